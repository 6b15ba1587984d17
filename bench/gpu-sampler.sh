#!/usr/bin/env bash
# Runs the GPU sampler benchmark on the testbed as the test user and prints Markdown.
# As root, after dev/setup.sh (or dev/start.sh). Settings: BENCH_WINDOW_S (120), BENCH_INTERVALS_S
# (5,1). Takes about 2 × (window + a minute); leaves no job, process or kernelspec behind.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../dev/lib.sh"
require_root
cd "$REPO/companion"
npx tsc -p tsconfig.bench.json
chmod -R a+rX dist-bench
as_test_user env BENCH_WINDOW_S="${BENCH_WINDOW_S:-120}" BENCH_INTERVALS_S="${BENCH_INTERVALS_S:-5,1}" \
    SLURM_KERNELS_MAIN="$REPO/companion/dist/companion/src/main.js" node "$REPO/companion/dist-bench/bench/gpu-sampler.js"
