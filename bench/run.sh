#!/usr/bin/env bash
# Runs the remote-kernel benchmark on the testbed as the test user and prints Markdown.
# As root, after dev/setup.sh (or dev/start.sh). Settings: BENCH_N, BENCH_WARMUP, BENCH_BULK_REPS,
# BENCH_STARTUP_REPS. Takes a few minutes; leaves no job, process or kernelspec behind.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../dev/lib.sh"
require_root
cd "$REPO/companion"
npx tsc -p tsconfig.bench.json
chmod -R a+rX dist-bench
cache=$(mktemp -d /tmp/slurm-kernels-bench.XXXXXX)
chown "$TEST_USER" "$cache"
as_test_user env BENCH_N="${BENCH_N:-1000}" BENCH_WARMUP="${BENCH_WARMUP:-50}" \
    BENCH_BULK_REPS="${BENCH_BULK_REPS:-3}" BENCH_STARTUP_REPS="${BENCH_STARTUP_REPS:-3}" \
    SLURM_KERNELS_MAIN="$REPO/companion/dist/companion/src/main.js" node "$REPO/companion/dist-bench/bench/remote-kernel.js"
rm -rf "$cache"
