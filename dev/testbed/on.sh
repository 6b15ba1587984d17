#!/usr/bin/env bash
# Runs a command "on" a testbed host, i.e. inside its network and UTS namespaces: on.sh node1 hostname
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
[ $# -ge 2 ] || { echo "usage: on.sh HOST COMMAND [ARG...]" >&2; exit 2; }
tb_on "$@"
