#!/usr/bin/env bash
# Installs what is missing on a fresh Debian 12 machine (apt, pip, npm), builds the extension and the
# companion, installs them into the user's JupyterLab environment, and brings the Slurm testbed up.
# Idempotent: a second run only checks. Run as root.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root
cd "$REPO"

APT_PACKAGES=(slurm-wlm munge openssh-server openssh-client iproute2 util-linux procps
    python3 python3-venv curl chromium gcc libc6-dev)

install_apt_packages() {
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    step "apt: installing ${missing[*]}"
    # Debian's maintainer scripts must not start daemons: the testbed starts its own, by pid.
    [ -f /usr/sbin/policy-rc.d ] || printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

install_npm_packages() {
    local dir
    for dir in . companion ui-tests; do
        if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
            step "npm: installing $dir"
            (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
        fi
    done
}

build() {
    step "building the companion and the labextension"
    (cd companion && npm run --silent build)
    npm run --silent build >/dev/null
}

install_lab_env() {
    local marker="$LAB_ENV/.requirements"
    if ! { [ -f "$marker" ] && cmp -s "$marker" dev/lab-requirements.txt; }; then
        step "pip: creating $LAB_ENV"
        mkdir -p "$(dirname "$LAB_ENV")"
        /usr/bin/python3 -m venv "$LAB_ENV"
        "$LAB_ENV/bin/pip" install -q --upgrade pip
        "$LAB_ENV/bin/pip" install -q -r dev/lab-requirements.txt
        cp dev/lab-requirements.txt "$marker"
    fi
    if ! "$LAB_ENV/bin/pip" show -q jupyterlab_slurm_kernels >/dev/null 2>&1 ||
        [ "$("$LAB_ENV/bin/python" -I -c 'import jupyterlab_slurm_kernels as m; print(m.HERE.parent)')" != "$REPO" ]; then
        step "pip: installing jupyterlab_slurm_kernels (editable) into $LAB_ENV"
        # A link left by a checkout elsewhere would make pip's uninstall of the old install fail.
        rm -f "$LAB_ENV/share/jupyter/labextensions/jupyterlab-slurm-kernels"
        # npm has already built the labextension; the hatch build hook need not run npm again.
        SKIP_JUPYTER_BUILDER=1 "$LAB_ENV/bin/pip" install -q --no-build-isolation -e "$REPO"
    fi
    local out
    out=$(PATH="$LAB_ENV/bin:$PATH" jupyter labextension develop --overwrite "$REPO" 2>&1) ||
        { echo "$out" >&2; echo "setup: linking the labextension into $LAB_ENV failed" >&2; return 1; }
    chmod -R a+rX "$LAB_ENV"
}

# JupyterLab and the companion run as the test user: they must be able to read the build.
make_readable_for_test_user() {
    as_test_user test -r "$REPO/companion/dist/companion/src/main.js" && return 0
    step "making $REPO readable for $TEST_USER"
    chmod -R a+rX "$REPO"
    local dir=$REPO
    while [ "$dir" != / ]; do
        chmod o+x "$dir" 2>/dev/null || true
        dir=$(dirname "$dir")
    done
}

install_apt_packages
install_npm_packages
build
install_lab_env
bash dev/testbed/up.sh
make_readable_for_test_user
as_test_user test -r "$REPO/companion/dist/companion/src/main.js" ||
    { echo "setup: $TEST_USER cannot read $REPO; move the checkout somewhere readable" >&2; exit 1; }
step "ready"
