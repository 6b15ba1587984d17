#!/usr/bin/env bash
# JupyterHub on the testbed's login node, as sites run it: PAM login with a password for the test
# user, the local process spawner, the single-user server on the login node with the environment a
# spawner gives (no login shell, no XDG_RUNTIME_DIR, no Node on PATH). Idempotent. Run as root.
#   SLURM_KERNELS_LAB_ENV   the single-user environment (default: the dev lab environment)
# Prints the hub's URL; the test user's password is in $HUB_PASSWORD_FILE (root only).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root

bash "$REPO/dev/testbed/up.sh" >/dev/null

# The single-user server comes from JupyterHub's package, in the user's own environment.
install_singleuser() {
    [ -x "$HUB_LAB_ENV/bin/jupyterhub-singleuser" ] && return 0
    step "pip: installing JupyterHub's single-user server into $HUB_LAB_ENV"
    "$HUB_LAB_ENV/bin/pip" install -q -r "$HUB_DIR/requirements.txt"
    chmod -R a+rX "$HUB_LAB_ENV"
}

install_hub_env() {
    local marker="$HUB_ENV/.requirements"
    if ! { [ -f "$marker" ] && cmp -s "$marker" "$HUB_DIR/requirements.txt"; }; then
        step "pip: creating $HUB_ENV"
        rm -rf "$HUB_ENV"
        /usr/bin/python3 -m venv "$HUB_ENV"
        "$HUB_ENV/bin/pip" install -q -r "$HUB_DIR/requirements.txt"
        cp "$HUB_DIR/requirements.txt" "$marker"
    fi
    if [ ! -f "$HUB_DIR/node_modules/.package-lock.json" ] ||
        [ "$HUB_DIR/package-lock.json" -nt "$HUB_DIR/node_modules/.package-lock.json" ]; then
        step "npm: installing JupyterHub's proxy"
        (cd "$HUB_DIR" && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

# A password for each test user, kept where only root reads it; down.sh locks the accounts again.
set_passwords() {
    mkdir -p -m 700 "$DEV_RUN"
    if [ ! -s "$HUB_PASSWORD_FILE" ]; then
        (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(12), end="")' >"$HUB_PASSWORD_FILE")
    fi
    printf '%s:%s\n' "$TEST_USER" "$(cat "$HUB_PASSWORD_FILE")" | chpasswd
}

# The Slurm commands a user has, and nothing else of /usr/bin (Debian's /bin is /usr/bin): no node.
make_user_path() {
    rm -rf "$HUB_USER_BIN"
    mkdir -p "$HUB_USER_BIN"
    local cmd
    for cmd in sbatch squeue sinfo scontrol scancel sacct sacctmgr srun; do
        ln -s "/usr/bin/$cmd" "$HUB_USER_BIN/$cmd"
    done
    if PATH="$HUB_LAB_ENV/bin:$HUB_USER_BIN" command -v node >/dev/null; then
        echo "hub: the single-user PATH must have no node, but $HUB_LAB_ENV/bin has one" >&2
        exit 1
    fi
}

hub_answers() {
    curl -fs -o /dev/null "http://$HUB_IP:$HUB_PORT/hub/health"
}

start_hub() {
    mkdir -p -m 700 "$HUB_STATE"
    step "starting JupyterHub on the login node ($HUB_IP:$HUB_PORT), single-user env $HUB_LAB_ENV"
    setsid nsenter --net=/run/netns/tb-login --uts="$TB_RUN/ns/login.uts" \
        env -i HOME=/root LANG=C.UTF-8 PATH="$HUB_ENV/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        SK_HUB_IP="$HUB_IP" SK_HUB_PORT="$HUB_PORT" SK_HUB_STATE="$HUB_STATE" SK_HUB_USERS="$TEST_USER" \
        SK_HUB_PROXY="$HUB_DIR/node_modules/.bin/configurable-http-proxy" SK_HUB_LAB_ENV="$HUB_LAB_ENV" \
        SK_HUB_USER_PATH="$HUB_LAB_ENV/bin:$HUB_USER_BIN" \
        "$HUB_ENV/bin/jupyterhub" -f "$HUB_DIR/jupyterhub_config.py" </dev/null >>"$HUB_LOG" 2>&1 &
    echo $! >"$HUB_PID_FILE"
    local _
    for _ in $(seq 1 120); do
        hub_answers && return 0
        hub_running || { echo "hub: JupyterHub exited; see $HUB_LOG" >&2; tail -n 20 "$HUB_LOG" >&2; exit 1; }
        sleep 0.5
    done
    echo "hub: JupyterHub did not answer in 60 s; see $HUB_LOG" >&2
    exit 1
}

install_hub_env
install_singleuser
set_passwords
make_user_path
if hub_running && [ "$(cat "$HUB_LAB_ENV_FILE" 2>/dev/null)" != "$HUB_LAB_ENV" ]; then
    bash "$HUB_DIR/down.sh" # running with another single-user environment
    set_passwords
fi
hub_running || start_hub
echo "$HUB_LAB_ENV" >"$HUB_LAB_ENV_FILE"
echo "JupyterHub: http://$HUB_IP:$HUB_PORT/ (user $TEST_USER, password in $HUB_PASSWORD_FILE)"
