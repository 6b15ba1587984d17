#!/usr/bin/env bash
# Stops what dev/start.sh started: JupyterLab (and the companion it started), then the Slurm testbed.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root

pid_file="$DEV_RUN/lab.pid"
if [ -s "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    pid=$(cat "$pid_file")
    step "stopping JupyterLab (process group $pid)"
    # start.sh ran it under setsid: its process group holds runuser, jupyter and the companion.
    kill -TERM -- "-$pid" 2>/dev/null
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null
fi
rm -f "$pid_file"
bash "$REPO/dev/testbed/down.sh"
