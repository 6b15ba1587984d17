#!/usr/bin/env bash
# Brings up a real Slurm cluster on this machine: munge + slurmctld + accounting (slurmdbd on MariaDB:
# accounts, QOS, sacct) in the root namespace, a login host and compute nodes in network + UTS
# namespaces with sshd and slurmd, test users with ssh keys and verified host keys, fake GPUs, and
# site Python environments.
# Idempotent: running it again only starts what is missing. Must run as root.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

[ "$(id -u)" = 0 ] || { echo "testbed up: must run as root" >&2; exit 1; }
started=$(date +%s.%N)

install_packages() {
    local missing=0 bin
    for bin in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/slurmdbd /usr/sbin/mariadbd /usr/sbin/munged \
        /usr/sbin/sshd /usr/bin/ssh-keygen /usr/sbin/ip /usr/bin/nsenter /usr/share/lmod/lmod/libexec/lmod /usr/bin/sudo \
        /usr/bin/oathtool /usr/bin/google-authenticator; do
        [ -x "$bin" ] || missing=1
    done
    python3_venv_ok || missing=1
    [ "$missing" = 1 ] || return 0
    tb_log "installing Debian packages"
    # Debian's maintainer scripts must not start daemons: we start our own, by pid.
    [ -f /usr/sbin/policy-rc.d ] || printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        slurm-wlm slurmdbd mariadb-server munge openssh-server openssh-client iproute2 util-linux procps \
        python3 python3-venv curl lmod sudo libpam-google-authenticator oathtool
}

python3_venv_ok() {
    [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null
}

make_dirs() {
    mkdir -p "$TB_RUN/ns" "$TB_RUN/dev" "$TB_STATE/ctld" "$TB_LOG" /run/munge /run/sshd /var/log/munge /var/lib/munge
    chown slurm:slurm "$TB_STATE" "$TB_STATE/ctld" "$TB_LOG"
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    local i
    for i in $(seq 0 $((GPUS - 1))); do
        # Same major/minor as /dev/null: Slurm only needs a device file to count and bind a GPU.
        [ -c "$TB_RUN/dev/nvidia$i" ] || mknod -m 666 "$TB_RUN/dev/nvidia$i" c 1 3
    done
    [ -s /etc/munge/munge.key ] || { mungekey --create >/dev/null 2>&1 || /usr/sbin/create-munge-key -f; }
    ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1 || ssh-keygen -A
    sign_host_key
    allow_hostbased_logins
}

# The hosts' ed25519 key, certified by the testbed's CA under every host's name and address (all
# hosts share /etc/ssh). Clients that know only plain keys are not affected: OpenSSH prefers the
# key types it knows for a host, ssh2 never asks for a certificate.
sign_host_key() {
    local h principals=""
    [ -f "$TB_SSH_CA" ] || ssh-keygen -q -t ed25519 -N '' -C slurm-testbed-ca -f "$TB_SSH_CA"
    for h in $(tb_hosts); do principals="$principals${principals:+,}$h,$(tb_ip "$h")"; done
    ssh-keygen -q -s "$TB_SSH_CA" -I slurm-testbed-hosts -h -n "$principals" -V -1d:+3650d \
        /etc/ssh/ssh_host_ed25519_key.pub
}

# The login hosts (and this one, where the tests' labs run) may log users in to any testbed host
# with their host key (ssh-keysign): only
# where the user's ssh config asks for HostbasedAuthentication, which is off by default.
allow_hostbased_logins() {
    local h
    printf '%s\nEnableSSHKeysign yes\n' "$TB_HOSTS_MARK" >"$TB_KEYSIGN_CONFIG"
    { echo "$TB_HOSTS_MARK"; for h in "$CTLD_HOST" $(tb_login_hosts); do echo "$h"; done; } >"$TB_SHOSTS_EQUIV"
}

make_users() {
    local u home
    for u in $TB_USERS; do
        id "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash -p '*' "$u"
        home=$(getent passwd "$u" | cut -d: -f6)
        install -d -m 700 -o "$u" -g "$u" "$home/.ssh"
        if [ ! -s "$home/.ssh/id_ed25519" ]; then
            runuser -u "$u" -- ssh-keygen -q -t ed25519 -N '' -C "$u@slurm-testbed" -f "$home/.ssh/id_ed25519"
        fi
        install -m 600 -o "$u" -g "$u" "$home/.ssh/id_ed25519.pub" "$home/.ssh/authorized_keys"
        write_known_hosts >"$home/.ssh/known_hosts"
        chown "$u:$u" "$home/.ssh/known_hosts"
        chmod 600 "$home/.ssh/known_hosts"
        # The TOTP secret the login node's 2FA door checks (tests compute codes with oathtool).
        # Codes may be reused and are not rate limited (-D -u): tests log in often within 30 s.
        [ -s "$home/.google_authenticator" ] ||
            runuser -u "$u" -- google-authenticator -t -D -f -q -C -Q NONE -e 0 -w 3 -u \
                -s "$home/.google_authenticator" >/dev/null
    done
}

# Every host shares /etc/ssh, so one set of host keys serves all of them; users verify them, never skip.
# This host is listed too: the nodes' sshd checks a hostbased login's host key in the user's
# known_hosts.
write_known_hosts() {
    local names key
    for names in "$CTLD_HOST,$TB_NET.1" $(for h in $(tb_hosts); do echo "$h,$(tb_ip "$h")"; done); do
        for key in /etc/ssh/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ecdsa_key.pub /etc/ssh/ssh_host_rsa_key.pub; do
            [ -f "$key" ] && echo "$names $(cut -d' ' -f1,2 "$key")"
        done
    done
}

# A Python environment on the "shared file system" (/opt is seen by every node), rebuilt only when its
# requirements change: make_venv DIR REQUIREMENTS_FILE
make_venv() {
    local dir=$1 requirements=$2 marker="$1/.requirements"
    if [ -f "$marker" ] && cmp -s "$marker" "$requirements"; then
        return 0
    fi
    tb_log "creating the site Python environment $dir"
    mkdir -p "$(dirname "$dir")"
    /usr/bin/python3 -m venv "$dir"
    "$dir/bin/pip" install -q --upgrade pip
    "$dir/bin/pip" install -q -r "$requirements"
    cp "$requirements" "$marker"
    chmod -R a+rX "$dir"
}

make_site_envs() {
    make_venv "$TB_SITE_ENV" "$here/site-requirements.txt"
    make_venv "$TB_SERVER_ONLY_ENV" "$here/server-only-requirements.txt"
}

# The site's environment presets, as an admin would publish them for jupyterlab-slurm-kernels.
write_site_presets() {
    mkdir -p /etc/slurm-kernels
    cat >/etc/slurm-kernels/presets.json <<JSON
{
  "default": "site-python",
  "presets": {
    "site-python": { "venv": "$TB_SITE_ENV" }
  }
}
JSON
    chmod 644 /etc/slurm-kernels/presets.json
}

# Lmod, as most sites have it: a module for the site's Python environment, so presets that load
# modules are tested as sites use them (`module load site-python` in the job's login shell).
write_site_module() {
    mkdir -p /etc/lmod/modules/site-python
    cat >/etc/lmod/modules/site-python/3.11.lua <<LUA
whatis("The site's Python with Jupyter Kernel Gateway and ipykernel (testbed)")
prepend_path("PATH", "$TB_SITE_ENV/bin")
setenv("VIRTUAL_ENV", "$TB_SITE_ENV")
LUA
    chmod -R a+rX /etc/lmod/modules
}

# The testbed has no GPUs: its nodes get a stand-in nvidia-smi that replays real captures, on the
# PATH of jobs only (the login node has no GPU either), as a driver's tools are on a GPU node's.
install_gpu_stand_in() {
    install -d -m 755 "$TB_GPU_DIR/bin" "$TB_GPU_DIR/captures"
    install -m 755 "$here/nvidia-smi" "$TB_GPU_DIR/bin/nvidia-smi"
    install -m 644 "$here/../../companion/test/fixtures/nvidia-smi/"*.csv "$TB_GPU_DIR/captures/"
    cat >/etc/profile.d/slurm-kernels-testbed-gpu.sh <<SH
# slurm-testbed: the stand-in nvidia-smi, in jobs on the testbed's nodes
if [ -n "\${SLURM_JOB_ID:-}" ]; then PATH="$TB_GPU_DIR/bin:\$PATH"; fi
SH
    chmod 644 /etc/profile.d/slurm-kernels-testbed-gpu.sh
}

make_network() {
    if ! ip link show "$TB_BRIDGE" >/dev/null 2>&1; then
        ip link add "$TB_BRIDGE" type bridge
        ip addr add "$TB_NET.1/24" dev "$TB_BRIDGE"
    fi
    ip link set "$TB_BRIDGE" up
    local h
    for h in $(tb_hosts); do
        if ! mountpoint -q "/run/netns/tb-$h" 2>/dev/null; then
            ip link del "tbv-$h" 2>/dev/null || true # a veth left behind by an asynchronous netns delete
            ip netns add "tb-$h"
            ip link add "tbv-$h" type veth peer name eth0 netns "tb-$h"
            ip link set "tbv-$h" master "$TB_BRIDGE" up
            ip -n "tb-$h" addr add "$(tb_ip "$h")/24" dev eth0
            ip -n "tb-$h" link set lo up
            ip -n "tb-$h" link set eth0 up
            ip -n "tb-$h" route add default via "$TB_NET.1"
        fi
        if ! mountpoint -q "$TB_RUN/ns/$h.uts" 2>/dev/null; then
            touch "$TB_RUN/ns/$h.uts"
            unshare --uts="$TB_RUN/ns/$h.uts" hostname "$h"
        fi
    done
}

# The laptop: a network namespace whose one link ends in the login node's namespace (a /30 of its
# own; the login node forwards nothing), so it reaches the login node's sshd and nothing else; and a
# home of its own per user with their key, mounted over their home by laptop.sh.
make_laptop() {
    if ! mountpoint -q /run/netns/tb-laptop 2>/dev/null; then
        ip netns add tb-laptop
        ip -n tb-login link add "$TB_LAPTOP_LINK" type veth peer name eth0 netns tb-laptop
        ip -n tb-login addr add "$TB_LAPTOP_NET.1/30" dev "$TB_LAPTOP_LINK"
        ip -n tb-login link set "$TB_LAPTOP_LINK" up
        ip -n tb-laptop addr add "$TB_LAPTOP_NET.2/30" dev eth0
        ip -n tb-laptop link set lo up
        tb_laptop_link up
    fi
    [ "$(ip netns exec tb-login sysctl -n net.ipv4.ip_forward)" = 0 ] ||
        { echo "testbed up: the login namespace forwards packets; the laptop would reach the nodes" >&2; exit 1; }
    if ! mountpoint -q "$TB_RUN/ns/laptop.uts" 2>/dev/null; then
        touch "$TB_RUN/ns/laptop.uts"
        unshare --uts="$TB_RUN/ns/laptop.uts" hostname laptop
    fi
    [ -f "$TB_USER_CA" ] || ssh-keygen -q -t ed25519 -N '' -C slurm-testbed-user-ca -f "$TB_USER_CA"
    local u home
    for u in $TB_USERS; do
        home=$(getent passwd "$u" | cut -d: -f6)
        install -d -m 700 -o "$u" -g "$u" "$TB_STATE/laptop/$u" "$TB_STATE/laptop/$u/.ssh"
        install -m 600 -o "$u" -g "$u" "$home/.ssh/id_ed25519" "$home/.ssh/id_ed25519.pub" "$TB_STATE/laptop/$u/.ssh/"
        certify_laptop_key "$u"
    done
}

# As a site's sshproxy does: a key of the laptop's that no authorized_keys lists (id_sshproxy),
# with a certificate of the user CA for the user's name beside it (id_sshproxy-cert.pub). Only the
# laptop door (login:2222) trusts that CA.
certify_laptop_key() {
    local u=$1 key="$TB_STATE/laptop/$1/.ssh/id_sshproxy"
    [ -f "$key" ] || ssh-keygen -q -t ed25519 -N '' -C "$u@laptop-sshproxy" -f "$key"
    [ -f "$key-cert.pub" ] || ssh-keygen -q -s "$TB_USER_CA" -I "$u-sshproxy" -n "$u" -V -1d:+3650d "$key.pub"
    chown "$u:$u" "$key" "$key.pub" "$key-cert.pub"
}

write_hosts_file() {
    local tmp h
    tmp=$(mktemp)
    grep -v "$TB_HOSTS_MARK\$" /etc/hosts >"$tmp" || true
    for h in $(tb_hosts); do echo "$(tb_ip "$h") $h $TB_HOSTS_MARK"; done >>"$tmp"
    # This host's own address on the cluster network, by its name: its ssh-keysign signs
    # hostbased logins with the name that address resolves back to.
    echo "$TB_NET.1 $CTLD_HOST $TB_HOSTS_MARK" >>"$tmp"
    cat "$tmp" >/etc/hosts
    rm -f "$tmp"
}

write_slurm_conf() {
    local n mem=2000
    {
        echo "# generated by jupyterlab-slurm-kernels dev/testbed/up.sh"
        echo "ClusterName=testbed"
        # The bridge address, not the hostname: inside a node namespace the hostname maps to its own loopback.
        echo "SlurmctldHost=$CTLD_HOST($TB_NET.1)"
        cat <<EOF
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$TB_STATE/ctld
SlurmdSpoolDir=$TB_STATE/%n
SlurmctldPidFile=$TB_RUN/slurmctld.pid
SlurmdPidFile=$TB_RUN/slurmd-%n.pid
SlurmctldLogFile=$TB_LOG/slurmctld.log
SlurmdLogFile=$TB_LOG/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=$TB_NET.1
AccountingStorageTRES=gres/gpu
# As most sites: a job must name an account and QOS the user has (or get the defaults).
AccountingStorageEnforce=associations,limits,qos
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
SlurmdParameters=config_overrides
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
MpiDefault=none
KillWait=5
MinJobAge=300
# Slurm's default: a node's link may be down for minutes (the link fault test: 2 min) before Slurm
# declares the node failed.
SlurmdTimeout=300
EOF
        for n in $(tb_compute_nodes); do
            echo "NodeName=$n NodeAddr=$(tb_ip "$n") CPUs=$CPUS RealMemory=$mem Gres=gpu:tesla:$GPUS State=UNKNOWN"
        done
        echo "PartitionName=cpu Nodes=ALL Default=YES DefaultTime=01:00:00 MaxTime=1-00:00:00 State=UP"
        echo "PartitionName=gpu Nodes=ALL DefaultTime=01:00:00 MaxTime=08:00:00 State=UP"
    } >/etc/slurm/slurm.conf.new
    {
        echo "AutoDetect=off"
        echo "Name=gpu Type=tesla File=$TB_RUN/dev/nvidia[0-$((GPUS - 1))]"
    } >/etc/slurm/gres.conf.new
    local changed=0
    cmp -s /etc/slurm/slurm.conf.new /etc/slurm/slurm.conf || changed=1
    mv /etc/slurm/slurm.conf.new /etc/slurm/slurm.conf
    mv /etc/slurm/gres.conf.new /etc/slurm/gres.conf
    chmod 644 /etc/slurm/slurm.conf /etc/slurm/gres.conf
    # A testbed already up takes a changed configuration without a restart.
    if [ "$changed" = 1 ] && tb_ctld_alive; then scontrol reconfigure; fi
}

write_slurmdbd_conf() {
    cat >/etc/slurm/slurmdbd.conf.new <<EOF
# generated by jupyterlab-slurm-kernels dev/testbed/up.sh
AuthType=auth/munge
DbdHost=$CTLD_HOST
DbdAddr=$TB_NET.1
SlurmUser=slurm
LogFile=$TB_LOG/slurmdbd.log
PidFile=$TB_RUN/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StorageLoc=$TB_ACCT_DB
EOF
    chown slurm:slurm /etc/slurm/slurmdbd.conf.new
    chmod 600 /etc/slurm/slurmdbd.conf.new
    mv /etc/slurm/slurmdbd.conf.new /etc/slurm/slurmdbd.conf
}

# MariaDB on its unix socket only; slurmdbd logs in as the OS user slurm, so there is no password.
start_accounting() {
    if ! tb_live_pid "$TB_MARIADB_PID" mariadbd >/dev/null; then
        install -d -o mysql -g mysql /run/mysqld
        setsid /usr/sbin/mariadbd --user=mysql --skip-networking --pid-file="$TB_MARIADB_PID" \
            </dev/null >>"$TB_LOG/mariadb.log" 2>&1 &
        tb_wait "MariaDB" 30 mariadb -e 'SELECT 1'
    fi
    mariadb -e "CREATE DATABASE IF NOT EXISTS $TB_ACCT_DB; CREATE USER IF NOT EXISTS slurm@localhost
        IDENTIFIED VIA unix_socket; GRANT ALL ON $TB_ACCT_DB.* TO slurm@localhost;"
    tb_live_pid "$TB_RUN/slurmdbd.pid" slurmdbd >/dev/null || /usr/sbin/slurmdbd
    tb_wait "slurmdbd" 30 sacctmgr -n show cluster
    [ -n "$(sacctmgr -n -P show cluster testbed format=Cluster)" ] || sacctmgr -i -Q add cluster testbed >/dev/null
}

# What a site's accounting knows: accounts with users in them, and a QOS besides the default one.
# Each piece is added only when missing, so a run cut short is finished by the next one.
acct_has() { [ -n "$(sacctmgr -n -P show "$@" 2>/dev/null)" ]; }
add_associations() {
    local a
    acct_has qos debug format=Name || sacctmgr -i -Q add qos debug MaxWall=00:30:00 >/dev/null
    for a in physics chemistry; do
        acct_has account "$a" format=Account || sacctmgr -i -Q add account "$a" cluster=testbed >/dev/null
    done
    acct_has assoc user=alice account=physics format=User ||
        sacctmgr -i -Q add user alice account=physics defaultaccount=physics qos=normal,debug defaultqos=normal >/dev/null
    acct_has assoc user=alice account=chemistry format=User ||
        sacctmgr -i -Q add user alice account=chemistry qos=normal,debug defaultqos=normal >/dev/null
    acct_has assoc user=bob account=chemistry format=User ||
        sacctmgr -i -Q add user bob account=chemistry defaultaccount=chemistry >/dev/null
}

start_daemons() {
    tb_live_pid /run/munge/munged.pid munged >/dev/null || runuser -u munge -- /usr/sbin/munged
    start_accounting
    add_associations
    tb_ctld_alive || /usr/sbin/slurmctld
    local n h
    for n in $(tb_compute_nodes); do
        mkdir -p "$TB_STATE/$n"
        tb_live_pid "$TB_RUN/slurmd-$n.pid" slurmd >/dev/null || tb_on "$n" /usr/sbin/slurmd
    done
    for h in $(tb_hosts); do
        tb_live_pid "$TB_RUN/sshd-$h.pid" sshd >/dev/null || tb_start_sshd "$h"
    done
    tb_live_pid "$TB_RUN/sshd-$TB_2FA_HOST-2fa.pid" sshd >/dev/null || tb_start_2fa_sshd
}

# A dead slurmctld makes every client call retry for ~10 s, so check it on each round and keep a
# deadline. A slurmd that died before it registered (a fresh machine under load: CI once saw a node
# "mixed*" after 30 s) is started again; a node that never answers gets its state, its reason and the
# daemons' logs printed, so the failure says why.
wait_for_idle_nodes() {
    local deadline states n
    deadline=$(($(date +%s) + ${TB_IDLE_WAIT_S:-120}))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        tb_ctld_alive || { echo "testbed up: slurmctld died; see $TB_LOG/slurmctld.log" >&2; exit 1; }
        states=$(sinfo -h -N -p cpu -o %T 2>/dev/null | sort -u | tr '\n' ' ')
        [ "$states" = "idle " ] && return 0
        for n in $(tb_compute_nodes); do
            tb_live_pid "$TB_RUN/slurmd-$n.pid" slurmd >/dev/null || {
                echo "testbed up: slurmd on $n is not running; starting it again" >&2
                tb_on "$n" /usr/sbin/slurmd || true
            }
        done
        sleep 0.5
    done
    echo "testbed up: nodes not idle after ${TB_IDLE_WAIT_S:-120} s (states: $states); see $TB_LOG" >&2
    sinfo -N -p cpu -o '%N %T %E' >&2 || true
    squeue -a -o '%i %u %T %N %R' >&2 || true
    for n in $(tb_compute_nodes); do
        echo "--- $TB_LOG/slurmd-$n.log (last 15 lines)" >&2
        tail -n 15 "$TB_LOG/slurmd-$n.log" >&2 2>/dev/null || true
    done
    echo "--- $TB_LOG/slurmctld.log (last 30 lines)" >&2
    tail -n 30 "$TB_LOG/slurmctld.log" >&2 2>/dev/null || true
    exit 1
}

# The fault tests stop slurmctld, a node's link or the node itself: the test user may run exactly
# this root-owned script (and its own copy of lib.sh) through sudo, nothing else.
install_fault_injection() {
    install -d -m 755 /usr/local/lib/slurm-kernels-testbed
    install -m 644 "$here/lib.sh" /usr/local/lib/slurm-kernels-testbed/lib.sh
    install -m 755 "$here/fault.sh" /usr/local/sbin/slurm-kernels-testbed-fault
    install -m 755 "$here/laptop.sh" /usr/local/sbin/slurm-kernels-testbed-laptop
    printf 'alice ALL=(root) NOPASSWD: /usr/local/sbin/slurm-kernels-testbed-fault, /usr/local/sbin/slurm-kernels-testbed-laptop\n' \
        >/etc/sudoers.d/slurm-kernels-testbed
    chmod 440 /etc/sudoers.d/slurm-kernels-testbed
}

install_packages
make_dirs
install_fault_injection
make_users
make_site_envs
write_site_presets
write_site_module
install_gpu_stand_in
make_network
make_laptop
write_hosts_file
write_slurm_conf
write_slurmdbd_conf
start_daemons
wait_for_idle_nodes
printf 'testbed: up in %.1f s: %s; partitions %s; users %s\n' \
    "$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')" \
    "$(tb_hosts | tr '\n' ' ')" "$(sinfo -h -o %R | tr '\n' ' ')" "$TB_USERS"
