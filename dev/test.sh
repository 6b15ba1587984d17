#!/usr/bin/env bash
# Runs every test: lint, frontend unit tests (jest), companion unit tests, companion integration tests
# on the Slurm testbed as the test user, Galata tests in Debian's Chromium against a real jupyter lab
# (and under JupyterHub),
# and a check that nothing was left behind. Ends with one line: "N passed, N failed".
# On a fresh machine it first installs and builds everything (dev/setup.sh). Run as root.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root
cd "$REPO"
started=$(date +%s)

testbed_was_up=0
bash dev/testbed/status.sh >/dev/null 2>&1 && testbed_was_up=1

if ! bash dev/setup.sh; then
    echo "setup failed: nothing was tested"
    echo "0 passed, 1 failed"
    exit 1
fi

results=$(mktemp -d /tmp/slurm-kernels-tests.XXXXXX)
chmod 755 "$results"
install -d -o "$TEST_USER" -m 700 "$results/$TEST_USER"
passed=0
failed=0
summary=()

record() { # name passed failed
    passed=$((passed + $2))
    failed=$((failed + $3))
    summary+=("$(printf '%-34s %3d passed, %d failed' "$1" "$2" "$3")")
}

# Records a jest or Playwright JSON report; a failing run with no failed test still counts as a failure.
record_report() { # name kind report-file exit-code
    local counts ok bad
    counts=$(node dev/count-results.js "$2" "$3" 2>/dev/null) || counts="0 1"
    read -r ok bad <<<"$counts"
    if [ "$4" != 0 ] && [ "$bad" = 0 ]; then bad=1; fi
    record "$1" "$ok" "$bad"
}

step "lint (prettier, eslint)"
if npm run --silent lint:check; then record "lint" 1 0; else record "lint" 0 1; fi

# ts-jest transpiles each file alone: a name used but never declared in a test shows up only here.
step "type check of the companion's tests (tsc)"
if (cd companion && npx tsc --noEmit -p tsconfig.test.json); then
    record "tests type check" 1 0
else
    record "tests type check" 0 1
fi

step "frontend unit tests (jest)"
npx jest --ci --json --outputFile="$results/frontend.json"
record_report "frontend unit (jest)" jest "$results/frontend.json" $?

step "companion unit tests"
(cd companion && npx jest --ci --selectProjects unit --json --outputFile="$results/companion-unit.json")
record_report "companion unit (jest)" jest "$results/companion-unit.json" $?

step "companion integration tests on the testbed, as $TEST_USER"
as_test_user env npm_config_cache="$results/$TEST_USER/npm-cache" bash -c 'cd "$1" && exec npx jest --ci --selectProjects integration --runInBand \
    --cacheDirectory="$2/jest-cache" --json --outputFile="$2/integration.json"' _ "$REPO/companion" "$results/$TEST_USER"
record_report "companion integration (testbed)" jest "$results/$TEST_USER/integration.json" $?

step "Galata tests in Debian Chromium against jupyter lab as $TEST_USER"
(cd ui-tests && CI=1 PLAYWRIGHT_JSON_OUTPUT_NAME="$results/galata.json" npx playwright test)
record_report "ui (Galata, Chromium)" playwright "$results/galata.json" $?

step "the wheel (dev/test-wheel.sh): built, installed in a fresh venv, end to end with and without node on PATH, and on the laptop"
bash dev/test-wheel.sh "$results/wheel"
read -r ok bad <"$results/wheel/checks" 2>/dev/null || { ok=0; bad=1; }
record "wheel: build, install, Node.js" "$ok" "$bad"
for run in node-on-path no-node; do
    record_report "wheel: integration ($run)" jest "$results/wheel/$run/integration.json" \
        "$(cat "$results/wheel/$run/integration.rc" 2>/dev/null || echo 1)"
    record_report "wheel: Galata ($run)" playwright "$results/wheel/$run/galata.json" \
        "$(cat "$results/wheel/$run/galata.rc" 2>/dev/null || echo 1)"
done
# The laptop's lab, from the wheel, in the testbed's laptop: the login node's key + TOTP door, asked once.
record_report "wheel: Galata on the laptop" playwright "$results/wheel/laptop/galata.json" \
    "$(cat "$results/wheel/laptop/galata.rc" 2>/dev/null || echo 1)"

step "Galata under JupyterHub (dev/hub/): log in, tile, kernel on the node, cancel; the wheel's venv"
if SLURM_KERNELS_LAB_ENV=/opt/slurm-kernels/wheel-env bash dev/hub/up.sh; then
    (cd ui-tests && CI=1 PLAYWRIGHT_JSON_OUTPUT_NAME="$results/hub.json" npx playwright test -c playwright.hub.config.js)
    record_report "ui under JupyterHub (Galata)" playwright "$results/hub.json" $?
else
    record "ui under JupyterHub (Galata)" 0 1
fi
bash dev/hub/down.sh

step "nothing left behind"
leftovers=()
jobs_left=$(squeue -h -o '%i %u %j %T' 2>/dev/null)
[ -z "$jobs_left" ] || leftovers+=("Slurm jobs: $jobs_left")
specs_left=$(ls -d "$(user_home "$TEST_USER")"/.local/share/jupyter/kernels/slurm-* \
    "/var/lib/slurm-testbed/laptop/$TEST_USER"/.local/share/jupyter/kernels/slurm-* 2>/dev/null)
[ -z "$specs_left" ] || leftovers+=("kernelspecs: $specs_left")
live_processes() { # zombies are already dead; pid 1 here reaps them late
    ps -u "$TEST_USER" -o pid=,stat=,args= 2>/dev/null | awk '$2 !~ /^Z/'
}
# A companion started on demand (a kernel shim, the CLI) stops 10 s after it has nothing to do.
for _ in $(seq 1 200); do [ -z "$(live_processes)" ] && break; sleep 0.1; done
procs_left=$(live_processes)
[ -z "$procs_left" ] || leftovers+=("processes of $TEST_USER: $procs_left")
if [ ${#leftovers[@]} -eq 0 ]; then record "no leftovers" 1 0; else printf '  %s\n' "${leftovers[@]}" >&2; record "no leftovers" 0 1; fi

[ "$testbed_was_up" = 1 ] || bash dev/testbed/down.sh

echo
printf '%s\n' "${summary[@]}"
echo "(reports in $results; $(($(date +%s) - started)) s)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
