#!/usr/bin/env bash
# The testbed's laptop: runs a command as the calling user (sudo's SUDO_USER) where a laptop
# would run it. Installed by up.sh as /usr/local/sbin/slurm-kernels-testbed-laptop, which the
# test user may run as root through sudo:
#
#   slurm-kernels-testbed-laptop [VAR=VALUE...] COMMAND [ARG...]
#
# - Its network (namespace tb-laptop) reaches the login node only, through a link of its own
#   (the login node forwards nothing): no compute node, no slurmctld, no other host.
# - Its files: /home, /etc/slurm, /etc/slurm-kernels (the site's configuration and presets) and
#   /run/munge are empty there, and the user's home is the laptop's own ($TB_STATE/laptop/USER:
#   their key, nothing of the cluster's), so nothing of the cluster is seen except through SSH.
#   Other paths (the checkout, /tmp) are shared.
# - The environment is only PATH, LANG, HOME, USER, LOGNAME and the VAR=VALUE given.
set -euo pipefail
. /usr/local/lib/slurm-kernels-testbed/lib.sh

[ "$(id -u)" = 0 ] || { echo "laptop: must run as root (sudo)" >&2; exit 1; }
user=${SUDO_USER:-}
[ -n "$user" ] && [ "$user" != root ] || { echo "laptop: run it through sudo as the test user" >&2; exit 1; }
home=$(getent passwd "$user" | cut -d: -f6)
laptop_home="$TB_STATE/laptop/$user"
[ -d "$laptop_home" ] || { echo "laptop: $laptop_home is missing (dev/testbed/up.sh makes it)" >&2; exit 1; }

assignments=()
while [ $# -gt 0 ] && [[ "$1" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; do
    assignments+=("$1")
    shift
done
[ $# -gt 0 ] || { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# shellcheck disable=SC2016 # the inner sh expands its own arguments
exec nsenter --net=/run/netns/tb-laptop --uts="$TB_RUN/ns/laptop.uts" \
    unshare -m --propagation private sh -c '
        set -e
        home=$1 laptop_home=$2 user=$3
        shift 3
        for dir in /home /etc/slurm /etc/slurm-kernels /run/munge; do
            [ -d "$dir" ] && mount -t tmpfs -o mode=755 laptop-empty "$dir"
        done
        mkdir -p "$home"
        mount --bind "$laptop_home" "$home"
        exec setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"
    ' sh "$home" "$laptop_home" "$user" \
    env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 "${assignments[@]}" \
    HOME="$home" USER="$user" LOGNAME="$user" "$@"
