#!/usr/bin/env bash
# Stops the testbed's JupyterHub (and with it the single-user servers it started) and locks the test
# user's password again. Leaves the testbed itself up.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root
if hub_running; then
    step "stopping JupyterHub (pid $(cat "$HUB_PID_FILE"))"
    pid=$(cat "$HUB_PID_FILE")
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
fi
rm -f "$HUB_PID_FILE"
id "$TEST_USER" >/dev/null 2>&1 && usermod -p '*' "$TEST_USER"
rm -f "$HUB_PASSWORD_FILE" "$HUB_LAB_ENV_FILE"
