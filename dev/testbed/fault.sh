#!/usr/bin/env bash
# Fault injection on the testbed, for the fault tests (companion/test/integration). Installed
# by up.sh as /usr/local/sbin/slurm-kernels-testbed-fault, which the test user may run as root
# through sudo, with exactly these arguments and nothing else:
#
#   ctld stop | ctld start          slurmctld stopped by its pid, started again (waits until it answers)
#   link NODE down | link NODE up   the node's network link, inside its namespace
#   laptop down | laptop up         the laptop's network link (a laptop asleep, or off the network)
#   node NODE down | node NODE resume   the node as Slurm sees it (scontrol update; resume
#                                       does nothing to a node already back in service)
#   sshd NODE stop | sshd NODE start    the node's sshd (sessions already open stay)
#   sshd NODE no-forwarding             the node's sshd again, with AllowTcpForwarding no
#   gpu NODE CAPTURE:ROW                what the node's stand-in nvidia-smi shows (a capture in
#                                       $TB_GPU_DIR/captures, row 0 = idle, 1 = busy), e.g. h200:1
set -euo pipefail
. /usr/local/lib/slurm-kernels-testbed/lib.sh

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "fault: must run as root (sudo)" >&2; exit 1; }

# Not `tb_compute_nodes | grep -q`: with pipefail, grep leaving at node1 can kill the echo of node2
# (SIGPIPE), and a node that exists reads as unknown.
is_node() {
    local n
    for n in $(tb_compute_nodes); do
        [ "$n" = "$1" ] && return 0
    done
    return 1
}

case "${1:-} ${2:-} ${3:-}" in
    "ctld stop ")
        pid=$(tb_live_pid "$TB_RUN/slurmctld.pid" slurmctld) || exit 0
        tb_stop_pid "$pid"
        ;;
    "ctld start ")
        tb_ctld_alive || /usr/sbin/slurmctld
        for _ in $(seq 1 100); do
            scontrol ping 2>/dev/null | grep -q 'is UP' && exit 0
            sleep 0.2
        done
        echo "fault: slurmctld does not answer after 20 s; see $TB_LOG/slurmctld.log" >&2
        exit 1
        ;;
    "link "*" down" | "link "*" up")
        is_node "$2" || usage
        tb_on "$2" ip link set dev eth0 "$3"
        ;;
    "laptop down " | "laptop up ")
        tb_laptop_link "$2"
        ;;
    "node "*" down")
        is_node "$2" || usage
        scontrol update nodename="$2" state=down reason=fault-test
        ;;
    "node "*" resume")
        is_node "$2" || usage
        # With ReturnToService=2 a downed node whose slurmd registers again is back by itself.
        case "$(sinfo -h -N -n "$2" -o %T | head -1)" in
            *down* | *drain* | *fail*) scontrol update nodename="$2" state=resume ;;
        esac
        ;;
    "sshd "*" stop" | "sshd "*" start" | "sshd "*" no-forwarding")
        is_node "$2" || usage
        if pid=$(tb_live_pid "$TB_RUN/sshd-$2.pid" sshd); then
            tb_stop_pid "$pid"
        fi
        case "$3" in
            start) tb_start_sshd "$2" ;;
            no-forwarding) tb_start_sshd "$2" -o AllowTcpForwarding=no ;;
        esac
        ;;
    "gpu "*)
        is_node "$2" || usage
        capture=${3%%:*}
        row=${3##*:}
        [[ "$capture" =~ ^[a-z0-9-]+$ && "$row" =~ ^[0-9]$ ]] || usage
        [ -f "$TB_GPU_DIR/captures/$capture.csv" ] || { echo "fault: no capture $capture" >&2; exit 1; }
        install -d -m 755 "$TB_RUN/gpus"
        printf '%s %s\n' "$capture" "$row" >"$TB_RUN/gpus/$2.tmp"
        chmod 644 "$TB_RUN/gpus/$2.tmp"
        mv "$TB_RUN/gpus/$2.tmp" "$TB_RUN/gpus/$2"
        ;;
    *) usage ;;
esac
