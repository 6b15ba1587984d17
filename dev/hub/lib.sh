# Settings of the testbed's JupyterHub (dev/hub/up.sh, down.sh).
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$REPO/dev/testbed/lib.sh"
HUB_DIR=$REPO/dev/hub
HUB_ENV=${SLURM_KERNELS_HUB_ENV:-/opt/slurm-kernels/hub-env}
HUB_LAB_ENV=${SLURM_KERNELS_LAB_ENV:-$LAB_ENV}
HUB_USER_BIN=/opt/slurm-kernels/hub-user-bin
HUB_STATE=/var/lib/slurm-kernels-hub
HUB_LOG=/var/log/slurm-kernels-hub.log
HUB_PID_FILE=$DEV_RUN/hub.pid
HUB_PASSWORD_FILE=$DEV_RUN/hub-password
HUB_LAB_ENV_FILE=$DEV_RUN/hub-lab-env
HUB_IP=$(tb_ip login)
HUB_PORT=8000

hub_running() {
    [ -s "$HUB_PID_FILE" ] && kill -0 "$(cat "$HUB_PID_FILE")" 2>/dev/null
}
