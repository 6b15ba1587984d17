#!/usr/bin/env bash
# What the companion costs slurmctld: one user's RPCs per minute (sdiag's per-user counts) while a
# companion serves 0, 1 ready, and 10 pending + 3 ready allocations, with no lab open; then with one
# JupyterLab tab open in Chromium (bench/lab-tab.js), its request panel closed and open, and over the
# first minutes after a submission. Run as root on the testbed (after dev/setup.sh and the
# frontend's build). BENCH_USER (bob, so that tests run as alice do not count).
#   BENCH_WINDOW_S (180): the measured window; BENCH_SETTLE_S (420): the wait before it, so pending
#   jobs are polled at their steady rate (the interval grows with the time pending, to 90 s).
set -euo pipefail
cd "$(dirname "$0")/.."
. dev/lib.sh
WINDOW=${BENCH_WINDOW_S:-180}
SETTLE=${BENCH_SETTLE_S:-420}
TEST_USER=${BENCH_USER:-bob}
home=$(user_home "$TEST_USER")
dir=$(as_test_user mktemp -d "$home/.sk-bench-XXXXXX")
sk() {
    as_test_user env XDG_STATE_HOME="$dir/state" JUPYTER_DATA_DIR="$dir/data" XDG_CONFIG_HOME="$dir/config" \
        node "$PWD/companion/dist/companion/src/main.js" "$@"
}
# The user's line of sdiag: "bob ( 1002) count:5 ave_time:…"; 0 before their first RPC.
rpcs() {
    sdiag | awk -v user="$TEST_USER" '/by user/ { on = 1; next } on && $1 == user {
        for (i = 2; i <= NF; i++) if ($i ~ /^count:/) { sub("count:", "", $i); print $i; found = 1; exit } }
        END { if (!found) print 0 }'
}
measure() {
    local label=$1 before after
    sleep "$2"
    before=$(rpcs)
    sleep "$WINDOW"
    after=$(rpcs)
    printf '| %s | %s |\n' "$label" "$(awk -v d=$((after - before)) -v w="$WINDOW" 'BEGIN { printf "%.2f", d * 60 / w }')"
}
LAB_PORT=${BENCH_LAB_PORT:-8891}
lab_pid=
cancel_all() {
    sk list --json 2>/dev/null | grep -o '"id": "[^"]*"' | cut -d'"' -f4 | while read -r id; do sk cancel "$id" >/dev/null 2>&1 || true; done
}
cleanup() {
    cancel_all
    # The lab (runuser's child), which stops the companion it started.
    [ -n "$lab_pid" ] && kill "$(ps -o pid= --ppid "$lab_pid")" 2>/dev/null || true
    pid=$(sk version >/dev/null 2>&1; as_test_user env XDG_STATE_HOME="$dir/state" node -e '
        const http = require("http"); const p = require("path");
        http.get({ socketPath: process.argv[1], path: "/api" }, r => { let b = ""; r.on("data", c => b += c); r.on("end", () => console.log(JSON.parse(b).pid)); });
    ' "$dir/state/slurm-kernels/hosts/$(hostname)/companion.sock" 2>/dev/null || true)
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

echo "| allocations (no lab open) | RPC/min of the user |"
echo "| --- | ---: |"
sk list >/dev/null # starts the companion
measure "none" 5
sk request -p cpu -t 30 --wait >/dev/null
measure "1 ready" 10
sk request -p gpu --gres gpu:2 -t 30 --wait >/dev/null
sk request -p gpu --gres gpu:2 -t 30 --wait >/dev/null 2>&1 || true
for _ in $(seq 1 10); do sk request -p gpu --gres gpu:2 -t 30 >/dev/null; done
measure "10 pending + 3 ready" "$SETTLE"

# With one lab tab open: the lab serves from the same state dir, so its companion is the one above.
cancel_all
as_test_user env XDG_STATE_HOME="$dir/state" JUPYTER_DATA_DIR="$dir/data" XDG_CONFIG_HOME="$dir/config" \
    "$LAB_ENV/bin/jupyter" lab --config "$PWD/ui-tests/jupyter_server_test_config.py" \
    --ServerApp.port="$LAB_PORT" >"$dir/lab.log" 2>&1 &
lab_pid=$!
for _ in $(seq 1 120); do
    curl -sf -o /dev/null "http://localhost:$LAB_PORT/lab" && break
    sleep 1
done
tab() { node bench/lab-tab.js "http://localhost:$LAB_PORT/lab" $((10 + WINDOW)) "$@" & tab_pid=$!; }
echo
echo "| with one lab tab open | RPC/min of the user |"
echo "| --- | ---: |"
tab
measure "none, request panel closed" 10
wait "$tab_pid"
sk request -p cpu -t 30 --wait >/dev/null
tab
measure "1 ready, request panel closed" 10
wait "$tab_pid"
tab --panel
measure "1 ready, request panel open" 10
wait "$tab_pid"
# The first minutes after a submission: the job pends behind two that hold every GPU.
sk request -p gpu --gres gpu:2 -t 30 --wait >/dev/null
sk request -p gpu --gres gpu:2 -t 30 --wait >/dev/null 2>&1 || true
tab
sk request -p gpu --gres gpu:2 -t 30 >/dev/null
measure "first $WINDOW s after a submission (pending; 3 ready)" 0
wait "$tab_pid"
