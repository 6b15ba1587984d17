#!/usr/bin/env bash
# Starts the Galata test server as the ordinary test user, as a cluster user would run it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
user=${TEST_USER:-alice}
env_dir=${SLURM_KERNELS_LAB_ENV:-/opt/slurm-kernels/lab-env}
# dev/test-wheel.sh runs the lab from the wheel's venv, once with no node on PATH.
path=${SLURM_KERNELS_TEST_PATH:-$env_dir/bin:/usr/bin:/bin}
home=$(getent passwd "$user" | cut -d: -f6)
# A lab as on a laptop (start-laptop-lab.sh) has its own ssh config and lists; nothing else passes.
laptop=()
for name in SLURM_KERNELS_CLUSTER SLURM_KERNELS_LOCAL_SLURM SLURM_KERNELS_SSH_CONFIG SLURM_KERNELS_CLUSTER_STATE_DIR \
    XDG_STATE_HOME XDG_CONFIG_HOME; do
    [ -n "${!name:-}" ] && laptop+=("$name=${!name}")
done
if [ "$(id -u)" = 0 ]; then
    cd "$home"
    exec runuser -u "$user" -- env -i HOME="$home" USER="$user" LOGNAME="$user" PATH="$path" \
        LANG=C.UTF-8 "${laptop[@]}" "$env_dir/bin/jupyter" lab --config "$here/jupyter_server_test_config.py"
fi
exec "$env_dir/bin/jupyter" lab --config "$here/jupyter_server_test_config.py"
