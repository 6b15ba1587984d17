#!/usr/bin/env bash
# The Galata lab on the testbed's laptop (tests/laptop.spec.ts). JupyterLab runs inside the laptop
# (slurm-kernels-testbed-laptop: a network that reaches the login node only, a home of its own, no
# file of the cluster's) from SLURM_KERNELS_LAB_ENV (dev/test-wheel.sh: the venv the wheel was
# installed into), as the test user, with no Slurm of its own and no cluster yet. The test adds the
# testbed by the alias testbed-2fa, which the user's own ~/.ssh/config there names: the login node's
# key + TOTP door. Its known_hosts starts empty, so the login's host key is asked. The notebooks'
# folder exists on the laptop only. The browser, on this host, reaches the lab through a relay from
# 127.0.0.1:8890 to the lab's unix socket (0600). Stopped by SIGTERM: the lab stops (its companion
# with it), and what the run wrote on the laptop goes.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. /usr/local/lib/slurm-kernels-testbed/lib.sh
user=${TEST_USER:-alice}
home=$(getent passwd "$user" | cut -d: -f6)
laptop_home="$TB_STATE/laptop/$user"
env_dir=${SLURM_KERNELS_LAB_ENV:-/opt/slurm-kernels/lab-env}
path=${SLURM_KERNELS_TEST_PATH:-$env_dir/bin:/usr/bin:/bin}
run_dir=/tmp/sk-laptop-lab-$user
# Execs (setpriv, not runuser), so that in the background "$!" is the command itself (sudo, node)
# and a signal reaches sudo, which passes it on to the lab; in the foreground, run it in ( ).
exec_as_user() { if [ "$(id -u)" = 0 ]; then exec setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"; else exec "$@"; fi; }
as_user() { (exec_as_user "$@"); }

# What a run leaves on the laptop: its ssh config and known_hosts, the saved clusters, kernelspecs,
# state and notebooks.
forget_the_run() {
    as_user rm -rf "$laptop_home/.ssh/config" "$laptop_home/.ssh/known_hosts" \
        "$laptop_home/.config/slurm-kernels" "$laptop_home/.local/share/jupyter" "$laptop_home/.local/share/Trash" \
        "$laptop_home/.local/state/slurm-kernels" "$laptop_home/only-on-the-laptop" "$run_dir" \
        "$home/.sk-laptop-lab"
}
forget_the_run
as_user install -d -m 700 "$run_dir" "$laptop_home/only-on-the-laptop"
# The laptop sees this host's /etc, whose ssh_known_hosts lists the testbed for the cluster's side.
as_user sh -c "umask 077; printf '%s\n' 'Host testbed-2fa' '    HostName 10.77.0.10' '    Port 2222' \
    '    GlobalKnownHostsFile /dev/null' >'$laptop_home/.ssh/config'"

pids=()
stop() {
    trap - TERM INT EXIT
    # sudo passes the TERM on to the lab inside the laptop; the relay just ends.
    [ ${#pids[@]} -eq 0 ] || kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 1 150); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    forget_the_run
}
trap stop TERM INT EXIT

exec_as_user node "$here/unix-relay.js" 127.0.0.1:8890 "$run_dir/lab.sock" &
pids+=($!)
# Records on the cluster apart from the other tests' (a place of the cluster's file system).
exec_as_user sudo -n /usr/local/sbin/slurm-kernels-testbed-laptop PATH="$path" SLURM_KERNELS_LOCAL_SLURM=no \
    SLURM_KERNELS_CLUSTER_STATE_DIR="$home/.sk-laptop-lab/state" JUPYTERLAB_GALATA_ROOT_DIR="$home/only-on-the-laptop" \
    "$env_dir/bin/jupyter" lab --config "$here/jupyter_server_test_config.py" \
    --ServerApp.port=8888 --ServerApp.sock="$run_dir/lab.sock" --ServerApp.sock_mode=0600 &
pids+=($!)
wait "${pids[1]}"
