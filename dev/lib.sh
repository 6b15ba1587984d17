# Settings shared by the development scripts (setup.sh, start.sh, stop.sh, test.sh).
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_ENV=${SLURM_KERNELS_LAB_ENV:-/opt/slurm-kernels/lab-env}
TEST_USER=${TEST_USER:-alice}
LAB_PORT=${LAB_PORT:-8888}
DEV_RUN=/run/slurm-kernels-dev

step() {
    printf '==> %s\n' "$*" >&2
}

require_root() {
    [ "$(id -u)" = 0 ] || { echo "$(basename "$0"): run as root (it installs packages and builds the Slurm testbed)" >&2; exit 1; }
}

user_home() {
    getent passwd "$1" | cut -d: -f6
}

# Runs a command as the test user with a clean environment, as a fresh login would have it.
as_test_user() {
    local home
    home=$(user_home "$TEST_USER")
    (cd "$home" && runuser -u "$TEST_USER" -- env -i HOME="$home" USER="$TEST_USER" LOGNAME="$TEST_USER" \
        SHELL=/bin/bash LANG=C.UTF-8 PATH="$LAB_ENV/bin:/usr/local/bin:/usr/bin:/bin" "$@")
}
