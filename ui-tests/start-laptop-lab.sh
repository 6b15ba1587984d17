#!/usr/bin/env bash
# The Galata lab as on a laptop (tests/laptop.spec.ts): no Slurm of its own (SLURM_KERNELS_LOCAL_SLURM=no),
# no cluster yet (a list of its own); the test adds the testbed by its alias, testbed-2fa, which
# the ssh config of its own names: the login node's key + TOTP door, with a known_hosts of its own
# (empty: the login's host key is asked for), and state of its own.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
user=${TEST_USER:-alice}
home=$(getent passwd "$user" | cut -d: -f6)
laptop="$home/.sk-laptop"
run() { if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi; }
run rm -rf "$laptop"
run install -d -m 700 "$laptop"
run sh -c "umask 077; : >'$laptop/known_hosts'; printf '%s\n' 'Host testbed-2fa' \
    '    HostName 10.77.0.10' '    Port 2222' '    UserKnownHostsFile $laptop/known_hosts' \
    '    GlobalKnownHostsFile /dev/null' >'$laptop/ssh_config'"
export SLURM_KERNELS_LOCAL_SLURM=no
export XDG_CONFIG_HOME="$laptop/config"
export SLURM_KERNELS_SSH_CONFIG="$laptop/ssh_config"
export SLURM_KERNELS_CLUSTER_STATE_DIR="$laptop/cluster-state"
export XDG_STATE_HOME="$laptop/state"
exec bash "$here/start-lab.sh"
