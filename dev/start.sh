#!/usr/bin/env bash
# The whole product on this machine: installs what is missing, builds, brings the Slurm testbed up and
# starts JupyterLab with the extension as the ordinary test user; prints the URL with its token.
# Run as root. Stop it with dev/stop.sh.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root
started=$(date +%s)

bash "$REPO/dev/setup.sh"

home=$(user_home "$TEST_USER")
state_dir="$home/.local/state/slurm-kernels"
token_file="$state_dir/lab-token"
log_file="$state_dir/lab.log"
pid_file="$DEV_RUN/lab.pid"

lab_running() {
    [ -s "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

if lab_running; then
    step "JupyterLab is already running (pid $(cat "$pid_file"))"
else
    mkdir -p "$DEV_RUN"
    as_test_user mkdir -p -m 700 "$state_dir"
    # The token stays in a 0600 file that Jupyter reads (JUPYTER_TOKEN_FILE): never in argv, where
    # `ps` would show it to every user of the machine for as long as the lab runs.
    (umask 077 && as_test_user python3 -c 'import secrets; print(secrets.token_hex(24), end="")' >"$token_file.new")
    chown "$TEST_USER:" "$token_file.new"
    mv "$token_file.new" "$token_file"
    step "starting JupyterLab as $TEST_USER on 127.0.0.1:$LAB_PORT"
    cd "$home"
    setsid runuser -u "$TEST_USER" -- env -i HOME="$home" USER="$TEST_USER" LOGNAME="$TEST_USER" SHELL=/bin/bash \
        LANG=C.UTF-8 PATH="$LAB_ENV/bin:/usr/local/bin:/usr/bin:/bin" JUPYTER_TOKEN_FILE="$token_file" \
        "$LAB_ENV/bin/jupyter" lab --no-browser --ip=127.0.0.1 --port="$LAB_PORT" --ServerApp.port_retries=0 \
        </dev/null >>"$log_file" 2>&1 &
    echo $! >"$pid_file"
    answered=0
    for _ in $(seq 1 120); do
        curl -fs -o /dev/null -H "Authorization: token $(cat "$token_file")" "http://127.0.0.1:$LAB_PORT/api/status" && { answered=1; break; }
        lab_running || { echo "start: JupyterLab exited; see $log_file" >&2; tail -n 20 "$log_file" >&2; exit 1; }
        sleep 0.5
    done
    [ "$answered" = 1 ] || { echo "start: JupyterLab did not answer with its token in 60 s; see $log_file" >&2; exit 1; }
fi

token=$(cat "$token_file")
curl -fsS --max-redirs 0 -o /dev/null -H "Authorization: token $token" "http://127.0.0.1:$LAB_PORT/slurm-kernels/api/cluster" ||
    echo "start: warning: the companion did not answer under /slurm-kernels/; see $log_file" >&2
echo
echo "JupyterLab with jupyterlab-slurm-kernels is running as $TEST_USER, the Slurm testbed behind it ($(($(date +%s) - started)) s):"
echo "    http://127.0.0.1:$LAB_PORT/lab?token=$token"
echo "Open the launcher tile 'GPU kernel on cluster'. Log: $log_file. Stop: bash dev/stop.sh"
