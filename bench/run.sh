#!/usr/bin/env bash
# Runs a benchmark on the testbed as the test user and prints Markdown:
#   bench/run.sh [remote-kernel]   the remote kernel against ssh, the srun relay and the manual path
#                                  (BENCH_N, BENCH_WARMUP, BENCH_BULK_REPS, BENCH_STARTUP_REPS)
#   bench/run.sh gpu-sampler       what the jobs' GPU sampler costs (BENCH_WINDOW_S, BENCH_INTERVALS_S)
#   bench/run.sh laptop            a lab on the testbed's laptop against ssh -J -L from there (BENCH_N, …)
# As root, after dev/setup.sh (or dev/start.sh). Takes a few minutes; leaves no job, process or
# kernelspec behind.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../dev/lib.sh"
require_root
bench=${1:-remote-kernel}
case "$bench" in
    remote-kernel | gpu-sampler | laptop) ;;
    *) echo "usage: bench/run.sh [remote-kernel|gpu-sampler|laptop]" >&2; exit 2 ;;
esac
cd "$REPO/companion"
npx tsc -p tsconfig.bench.json
chmod -R a+rX dist-bench
as_test_user env BENCH_N="${BENCH_N:-1000}" BENCH_WARMUP="${BENCH_WARMUP:-50}" \
    BENCH_BULK_REPS="${BENCH_BULK_REPS:-3}" BENCH_STARTUP_REPS="${BENCH_STARTUP_REPS:-3}" \
    BENCH_WINDOW_S="${BENCH_WINDOW_S:-120}" BENCH_INTERVALS_S="${BENCH_INTERVALS_S:-5,1}" \
    SLURM_KERNELS_MAIN="$REPO/companion/dist/companion/src/main.js" node "$REPO/companion/dist-bench/bench/$bench.js"
