# Shared settings and helpers of the Slurm testbed (sourced by up.sh, down.sh, status.sh, on.sh).
# The layout follows ../shared/reference/slurm-testbed.md: slurmctld in the root network namespace,
# a login host and compute nodes each in their own network + UTS namespace, one shared file system.

NODES=${NODES:-2}
GPUS=${GPUS:-2}
CPUS=${CPUS:-4}
TB_USERS=${TB_USERS:-"alice bob"}
TB_NET=10.77.0
TB_BRIDGE=tbbr0
TB_RUN=/run/slurm-testbed
TB_STATE=/var/lib/slurm-testbed
TB_LOG=/var/log/slurm-testbed
# The Python environment that jobs use, on the shared file system, as a site would provide it.
TB_SITE_ENV=${TB_SITE_ENV:-/opt/slurm-kernels/site-env}
# Without Kernel Gateway: jobs that use it run `jupyter server` instead.
TB_SERVER_ONLY_ENV=${TB_SERVER_ONLY_ENV:-/opt/slurm-kernels/server-only-env}
# The stand-in nvidia-smi (the testbed has no GPUs) and the real captures it replays.
TB_GPU_DIR=/opt/slurm-kernels/testbed-gpu
# The testbed's SSH certificate authority: it signs the hosts' ed25519 key (sshd presents the
# certificate to clients that ask for one), for tests whose known_hosts holds only @cert-authority.
TB_SSH_CA=/etc/ssh/slurm-testbed-ca
TB_HOST_CERT=/etc/ssh/ssh_host_ed25519_key-cert.pub
# A CA for users' keys, as sites with NERSC-style sshproxy have: the laptop door trusts what it signs.
TB_USER_CA=/etc/ssh/slurm-testbed-user-ca
# Hostbased authentication, as many clusters log users in from their login nodes to the compute
# nodes: ssh-keysign may sign with the hosts' key, and the nodes trust the login hosts.
TB_KEYSIGN_CONFIG=/etc/ssh/ssh_config.d/slurm-testbed-keysign.conf
TB_SHOSTS_EQUIV=/etc/ssh/shosts.equiv
TB_HOSTS_MARK="# slurm-testbed"
# The login node's door for laptops, as sites guard theirs: a key and a one-time code (TOTP through
# PAM, google-authenticator's ~/.google_authenticator). Its own sshd on this port, with its own PAM
# stack seen in its own mount namespace only (OpenSSH 9.2 has no PAMServiceName).
TB_2FA_HOST=login
TB_2FA_PORT=2222
# The testbed's laptop (laptop.sh): its own namespaces, linked to the login node only, which does not
# forward: the laptop reaches the login node's sshd, nothing else of the cluster.
TB_LAPTOP_NET=10.78.0
TB_LAPTOP_LINK=tbv-laptop
CTLD_HOST=$(hostname)
TB_ACCT_DB=slurm_acct_db
# MariaDB runs as mysql and writes its pid file itself, so it lives in its own run directory.
TB_MARIADB_PID=/run/mysqld/slurm-testbed.pid

# Two login nodes, as real clusters have behind one name: the same $HOME, their own hostnames.
tb_login_hosts() {
    echo login
    echo login2
}

tb_hosts() {
    tb_login_hosts
    local i
    for i in $(seq 1 "$NODES"); do echo "node$i"; done
}

tb_compute_nodes() {
    local i
    for i in $(seq 1 "$NODES"); do echo "node$i"; done
}

# login -> 10.77.0.10, login2 -> 10.77.0.9, nodeN -> 10.77.0.(10+N)
tb_ip() {
    case "$1" in
        login) echo "$TB_NET.10" ;;
        login2) echo "$TB_NET.9" ;;
        node*) echo "$TB_NET.$((10 + ${1#node}))" ;;
    esac
}

# Runs a command inside a host's network and UTS namespaces.
tb_on() {
    local host=$1
    shift
    nsenter --net="/run/netns/tb-$host" --uts="$TB_RUN/ns/$host.uts" "$@"
}

# Prints the pid in a pid file if that process is alive, not a zombie, and still the named daemon.
tb_live_pid() {
    local pidfile=$1 comm=$2 pid state
    [ -s "$pidfile" ] || return 1
    pid=$(cat "$pidfile")
    [ -r "/proc/$pid/comm" ] || return 1
    [ "$(cat "/proc/$pid/comm")" = "$comm" ] || return 1
    state=$(ps -o stat= -p "$pid" 2>/dev/null) || return 1
    case "$state" in Z*) return 1 ;; esac
    echo "$pid"
}

# SIGTERM, wait up to 10 s, then SIGKILL. Zombies count as stopped (pid 1 here reaps late).
tb_stop_pid() {
    local pid=$1 i state
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 100); do
        state=$(ps -o stat= -p "$pid" 2>/dev/null) || return 0
        case "$state" in Z*) return 0 ;; esac
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

tb_ctld_alive() {
    tb_live_pid "$TB_RUN/slurmctld.pid" slurmctld >/dev/null
}

# tb_start_sshd HOST [sshd options...]: the host's sshd, in its namespace (it listens once this returns).
# It also takes hostbased logins from the hosts in shosts.equiv, by the name the client sends (the
# addresses have no reverse DNS; the client's key must still match that name in known_hosts).
tb_start_sshd() {
    local h=$1
    shift
    local cert=()
    [ -f "$TB_HOST_CERT" ] && cert=(-o "HostCertificate=$TB_HOST_CERT")
    tb_on "$h" /usr/sbin/sshd -o "PidFile=$TB_RUN/sshd-$h.pid" -E "$TB_LOG/sshd-$h.log" "${cert[@]}" \
        -o HostbasedAuthentication=yes -o HostbasedUsesNameFromPacketOnly=yes "$@"
}

# tb_start_2fa_sshd: the login node's sshd that asks for a key and then a TOTP code.
tb_start_2fa_sshd() {
    local pam="$TB_RUN/pam-2fa-sshd"
    sed 's/^@include common-auth$/auth required pam_google_authenticator.so/' /etc/pam.d/sshd >"$pam"
    grep -q '^auth required pam_google_authenticator.so$' "$pam" ||
        { echo "testbed: /etc/pam.d/sshd has no '@include common-auth' line to replace" >&2; return 1; }
    local cert=()
    [ -f "$TB_HOST_CERT" ] && cert=(-o "HostCertificate=$TB_HOST_CERT")
    [ -f "$TB_USER_CA.pub" ] && cert+=(-o "TrustedUserCAKeys=$TB_USER_CA.pub")
    # shellcheck disable=SC2016 # $1 and $@ belong to the inner sh
    tb_on "$TB_2FA_HOST" unshare -m --propagation private sh -c 'mount --bind "$1" /etc/pam.d/sshd && shift && exec "$@"' \
        sh "$pam" /usr/sbin/sshd -p "$TB_2FA_PORT" -o "PidFile=$TB_RUN/sshd-$TB_2FA_HOST-2fa.pid" \
        -E "$TB_LOG/sshd-$TB_2FA_HOST-2fa.log" "${cert[@]}" -o UsePAM=yes -o KbdInteractiveAuthentication=yes \
        -o PasswordAuthentication=no -o AuthenticationMethods=publickey,keyboard-interactive
}

# tb_laptop_link up|down: the laptop's network link (its route to the login node comes and goes with it).
tb_laptop_link() {
    ip -n tb-laptop link set eth0 "$1"
    if [ "$1" = up ]; then
        ip -n tb-laptop route replace "$(tb_ip login)/32" via "$TB_LAPTOP_NET.1" dev eth0
    fi
}

tb_log() {
    echo "testbed: $*" >&2
}

# tb_wait WHAT SECONDS CMD...: runs CMD until it succeeds, or fails after SECONDS.
tb_wait() {
    local what=$1 seconds=$2 i
    shift 2
    for i in $(seq 1 $((seconds * 10))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "testbed: $what did not answer in $seconds s; see $TB_LOG" >&2
    return 1
}
