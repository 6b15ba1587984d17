#!/usr/bin/env bash
# Stops what up.sh started, by pid file, and removes the namespaces, bridge and run-time state.
# Leaves the packages, users and the site environment in place. KEEP_STATE=1 keeps slurmctld's state
# and the accounting database.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

[ "$(id -u)" = 0 ] || { echo "testbed down: must run as root" >&2; exit 1; }

cancel_all_jobs() {
    tb_ctld_alive || return 0
    scancel --full --quiet $(squeue -h -o %i 2>/dev/null) 2>/dev/null || true
    local i
    for i in $(seq 1 100); do
        [ -z "$(squeue -h -t R,CG,PD -o %i 2>/dev/null)" ] && return 0
        sleep 0.1
    done
    tb_log "jobs still listed after 10 s: $(squeue -h -o '%i %T' | tr '\n' ' ')"
}

stop_daemon() {
    local pidfile=$1 comm=$2 pid
    pid=$(tb_live_pid "$pidfile" "$comm") || return 0
    tb_stop_pid "$pid"
}

# Anything still inside a node namespace (a job that double-forked, an ssh session) is ours: stop it by pid.
kill_namespace_leftovers() {
    local h pid
    for h in $(tb_hosts) laptop; do
        [ -e "/run/netns/tb-$h" ] || continue
        for pid in $(ip netns pids "tb-$h" 2>/dev/null); do
            tb_log "stopping leftover pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) in tb-$h"
            tb_stop_pid "$pid"
        done
    done
}

remove_network() {
    local h
    for h in $(tb_hosts) $(ls /run/netns 2>/dev/null | sed -n 's/^tb-//p'); do
        ip link del "tbv-$h" 2>/dev/null || true
        if [ -e "/run/netns/tb-$h" ]; then ip netns del "tb-$h" 2>/dev/null || true; fi
        if mountpoint -q "$TB_RUN/ns/$h.uts" 2>/dev/null; then umount "$TB_RUN/ns/$h.uts"; fi
    done
    ip link del "$TB_BRIDGE" 2>/dev/null || true
    # `ip netns add` bind-mounts /run/netns onto itself the first time; undo it once nothing is left there.
    if [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ] && mountpoint -q /run/netns; then umount /run/netns || true; fi
    local tmp
    tmp=$(mktemp)
    grep -v "$TB_HOSTS_MARK\$" /etc/hosts >"$tmp" || true
    cat "$tmp" >/etc/hosts
    rm -f "$tmp"
}

cancel_all_jobs
for h in $(tb_hosts); do stop_daemon "$TB_RUN/sshd-$h.pid" sshd; done
stop_daemon "$TB_RUN/sshd-$TB_2FA_HOST-2fa.pid" sshd
for n in $(tb_compute_nodes); do stop_daemon "$TB_RUN/slurmd-$n.pid" slurmd; done
stop_daemon "$TB_RUN/slurmctld.pid" slurmctld
stop_daemon "$TB_RUN/slurmdbd.pid" slurmdbd
# Job ids start again at 1 with slurmctld's state: the accounting that remembers them goes with it.
[ "${KEEP_STATE:-0}" = 1 ] || ! tb_live_pid "$TB_MARIADB_PID" mariadbd >/dev/null ||
    mariadb -e "DROP DATABASE IF EXISTS $TB_ACCT_DB"
stop_daemon "$TB_MARIADB_PID" mariadbd
stop_daemon /run/munge/munged.pid munged
kill_namespace_leftovers
remove_network
rm -rf "$TB_RUN"
# The test user's way to root for fault injection goes with the testbed.
rm -f /etc/sudoers.d/slurm-kernels-testbed /usr/local/sbin/slurm-kernels-testbed-fault
rm -rf /etc/profile.d/slurm-kernels-testbed-gpu.sh "$TB_GPU_DIR"
for f in "$TB_KEYSIGN_CONFIG" "$TB_SHOSTS_EQUIV"; do
    if [ -f "$f" ] && [ "$(head -n1 "$f")" = "$TB_HOSTS_MARK" ]; then rm -f "$f"; fi
done
[ "${KEEP_STATE:-0}" = 1 ] || rm -rf "$TB_STATE"
tb_log "down"
