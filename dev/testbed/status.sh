#!/usr/bin/env bash
# Prints what of the testbed is running; exit 0 only when every daemon is up and the nodes answer.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

ok=0
report() {
    local name=$1 pidfile=$2 comm=$3 pid
    if pid=$(tb_live_pid "$pidfile" "$comm"); then echo "$name: running (pid $pid)"; else echo "$name: stopped"; ok=1; fi
}
report munged /run/munge/munged.pid munged
report slurmctld "$TB_RUN/slurmctld.pid" slurmctld
for n in $(tb_compute_nodes); do report "slurmd $n" "$TB_RUN/slurmd-$n.pid" slurmd; done
for h in $(tb_hosts); do report "sshd $h" "$TB_RUN/sshd-$h.pid" sshd; done
report "sshd $TB_2FA_HOST:$TB_2FA_PORT (key + TOTP)" "$TB_RUN/sshd-$TB_2FA_HOST-2fa.pid" sshd
if tb_ctld_alive; then sinfo -N -o '%N %P %T %G'; squeue; fi
exit $ok
