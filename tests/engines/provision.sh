#!/usr/bin/env bash
# Install and start real Docker engines for leaven's tests, side by side:
#   docker-20:  Debian bookworm's docker.io (Engine 20.10.24, BuildKit v0.8 protocol)
#   docker-28:  Debian sid's docker.io/containerd/cli/buildx/compose, unpacked into a prefix
#   docker-28c: a second engine from the same sid packages, with the containerd image store
#   docker-28d: a third, also with the containerd image store (a split target's second node)
#   docker-28u: a fourth one with --userns-remap=default (container root is host UID 100000)
# plus debootstrapped base images (Debian, a Python and a Node stand-in; nothing can be pulled),
# stand-ins for the postgres and redis images a compose file names, and a registry on loopback
# (Debian's docker-registry, plain HTTP at $REGISTRY_ADDR).
#
# Usage: tests/engines/provision.sh          provision and start (idempotent; seconds when done)
#        tests/engines/provision.sh stop [ENGINE…]   stop the engines (all, or e.g. 28c) and the registry
#        tests/engines/provision.sh status   print one line per engine
# Clients afterwards: $LEAVEN_ENGINES/bin/docker-20, docker-28, docker-28c, docker-28d and docker-28u, and docker-28-tls for docker-28's
# second listener, tcp://127.0.0.1:23760 with mutual TLS (see tests/engines/env.sh).
# Facts behind this: shared/reference/engine.md.
set -euo pipefail

STATE=${LEAVEN_ENGINES:-/var/lib/leaven-engines}
RUNDIR=/run/leaven-test                 # sockets and exec roots: short paths (unix socket limit)
SID=$STATE/sid                          # sid packages unpacked here (dpkg -x)
SIDAPT=$STATE/sid-apt                   # private apt dirs for sid: the system's config is untouched
SID_PKGS=(docker.io containerd docker-cli docker-buildx docker-compose)
HOST_PKGS=(docker.io debootstrap iptables iproute2 ca-certificates openssl docker-registry openssh-client curl
           qemu-user-static binfmt-support)
# 28c is a second Docker 28 engine, with the containerd image store: with docker-28
# it makes a pool of two nodes, and it has what the classic store lacks (registry
# cache export, multi-platform images, the oci exporter). 28d is a third, like
# 28c: a target split per platform over two nodes needs two engines that push
# by digest, which the classic store cannot. It gets no base images of its own
# (it pulls from the registry what it needs).
# 28u remaps user namespaces (dockremap, 100000:65536 in /etc/subuid and /etc/subgid, which
# dockerd writes on its first start): the engine `leaven host-prep` prepares bind mounts for.
ENGINES=(20 28 28c 28d 28u)
# Each engine gets its own bridge and address pools, so they never clash (docker0 is left alone).
declare -A BRIDGE_ADDR=([20]=10.20.0.1/24 [28]=10.28.0.1/24 [28c]=10.29.0.1/24 [28d]=10.31.0.1/24 [28u]=10.30.0.1/24)
declare -A POOL=([20]=10.120.0.0/16 [28]=10.128.0.0/16 [28c]=10.129.0.0/16 [28d]=10.131.0.0/16 [28u]=10.130.0.0/16)
# Each engine's daemon.json: empty, so /etc/docker/daemon.json can't change them, but for 28c's
# and 28d's store and 28u's remap.
CONTAINERD_STORE='{"features": {"containerd-snapshotter": true}}'
declare -A DAEMON_JSON=([20]='{}' [28]='{}' [28c]=$CONTAINERD_STORE [28d]=$CONTAINERD_STORE
                        [28u]='{"userns-remap": "default"}')
SYS_PATH=/usr/sbin:/usr/bin:/sbin:/bin  # never /usr/local/bin: it has an unrelated docker 28.2 client
# Engines push to it over plain HTTP without configuration: 127.0.0.0/8 is insecure by default.
REGISTRY_ADDR=127.0.0.1:25000
# docker-28 also listens on TLS_HOST with --tlsverify; certificates under $TLS (made once):
#   ca/ca.pem, ca/ca-key.pem             the test CA
#   server/ca.pem, cert.pem, key.pem     dockerd's (SAN IP:127.0.0.1, DNS:localhost)
#   client/ca.pem, cert.pem, key.pem     a client's, laid out for DOCKER_CERT_PATH
TLS_PORT=23760
TLS_HOST=tcp://127.0.0.1:$TLS_PORT
TLS=$STATE/tls

log() { printf 'provision: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "must run as root"

sock()   { echo "$RUNDIR/docker-$1.sock"; }
pidf()   { echo "$STATE/run/dockerd-$1.pid"; }
client() { echo "$STATE/bin/docker-$1"; }

# The Debian mirror the system already uses (first non-security URI), for sid and debootstrap.
mirror() {
    local m
    m=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
        /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    echo "${m:-http://deb.debian.org/debian}"
}

# ---------------------------------------------------------------- host packages (bookworm)
install_host_packages() {
    local missing=() p
    for p in "${HOST_PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    log "installing ${missing[*]} from bookworm"
    # Keep the package from starting a system dockerd/containerd: a policy-rc.d that says no,
    # only if the machine has none already (this one has Docker's own, which also says no).
    local own_policy=
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
        own_policy=1; trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    local apt=(apt-get -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends)
    export DEBIAN_FRONTEND=noninteractive
    # apt-get update only when the lists don't know the packages (or the first try fails).
    if ! apt-cache show docker.io debootstrap >/dev/null 2>&1 || ! "${apt[@]}" install "${missing[@]}"; then
        "${apt[@]}" update
        "${apt[@]}" install "${missing[@]}"
    fi
    [[ -z $own_policy ]] || { rm -f /usr/sbin/policy-rc.d; trap - EXIT; }
}

# A system dockerd (/var/run/docker.sock) or containerd (/run/containerd/containerd.sock) would be
# picked up by our dockerds as their containerd, making both engines share one: stop them.
stop_system_docker() {
    local pf pid
    for pf in /var/run/docker.pid /run/containerd/containerd.pid; do
        [[ -s $pf ]] || continue
        pid=$(<"$pf")
        if kill -0 "$pid" 2>/dev/null; then log "stopping system daemon $pf ($pid)"; kill "$pid"; fi
    done
    # dockerd takes an existing /run/containerd/containerd.sock as "use the system containerd".
    if [[ -S /run/containerd/containerd.sock ]]; then
        if timeout 5 ctr --address /run/containerd/containerd.sock version >/dev/null 2>&1; then
            die "a system containerd answers on /run/containerd/containerd.sock; stop it first"
        fi
        rm -f /run/containerd/containerd.sock     # stale
    fi
}

# ---------------------------------------------------------------- sid engine, unpacked in a prefix
install_sid() {
    [[ -f $SID/.complete ]] && return 0
    log "downloading sid ${SID_PKGS[*]} into $SID"
    rm -rf "$SIDAPT" "$SID.tmp"
    mkdir -p "$SIDAPT/sources.list.d" "$SIDAPT/lists/partial" "$SIDAPT/cache/archives/partial" "$SIDAPT/debs" "$SID.tmp"
    cat >"$SIDAPT/sources.list.d/sid.sources" <<EOF
Types: deb
URIs: $(mirror)
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    local apt=(apt-get -q -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$SIDAPT/sources.list.d"
               -o "Dir::State::Lists=$SIDAPT/lists" -o "Dir::Cache=$SIDAPT/cache"
               -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
               -o APT::Sandbox::User=root)
    "${apt[@]}" update
    (cd "$SIDAPT/debs" && "${apt[@]}" download "${SID_PKGS[@]}")
    local deb
    for deb in "$SIDAPT"/debs/*.deb; do dpkg -x "$deb" "$SID.tmp"; done
    (cd "$SIDAPT/debs" && ls *.deb) >"$SID.tmp/.complete"
    rm -rf "$SID" "$SIDAPT/lists" "$SIDAPT/cache"
    mv "$SID.tmp" "$SID"
    "$SID/usr/sbin/dockerd" --version >/dev/null || die "sid dockerd does not run here"
}

# sid's docker-init is a relative link to a tini-static it doesn't ship: use bookworm's.
fix_sid_links() {
    [[ $(readlink "$SID/usr/bin/docker-init" 2>/dev/null) == /usr/bin/tini-static ]] ||
        ln -sfn /usr/bin/tini-static "$SID/usr/bin/docker-init"
}

# ---------------------------------------------------------------- TLS for docker-28's TCP listener
# A CA, a server and a client certificate (EC P-256, ten years), made once.
ossl() { openssl "$@" 2>>"$STATE/logs/tls.log" || die "openssl $1 failed; see $STATE/logs/tls.log"; }
make_tls() {
    [[ -f $TLS/.complete ]] && return 0
    log "making the test CA and TLS certificates in $TLS"
    local tmp=$TLS.tmp who ext
    rm -rf "$tmp"; mkdir -p "$tmp/ca" "$tmp/server" "$tmp/client"
    local newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    ossl req -x509 "${newkey[@]}" -keyout "$tmp/ca/ca-key.pem" -out "$tmp/ca/ca.pem" -days 3650 \
        -subj "/CN=leaven test CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    for who in server client; do
        if [[ $who == server ]]; then
            ext='subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth'
        else
            ext='extendedKeyUsage=clientAuth'
        fi
        ossl req -new "${newkey[@]}" -keyout "$tmp/$who/key.pem" -out "$tmp/$who/req.pem" \
            -subj "/CN=leaven test $who"
        ossl x509 -req -in "$tmp/$who/req.pem" -CA "$tmp/ca/ca.pem" -CAkey "$tmp/ca/ca-key.pem" \
            -set_serial "0x$(openssl rand -hex 8)" -days 3650 -out "$tmp/$who/cert.pem" \
            -extfile <(printf "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n$ext\n")
        rm "$tmp/$who/req.pem"
        cp "$tmp/ca/ca.pem" "$tmp/$who/ca.pem"
    done
    chmod 600 "$tmp"/*/*key.pem
    ossl verify -CAfile "$tmp/ca/ca.pem" "$tmp/server/cert.pem" "$tmp/client/cert.pem" >/dev/null
    touch "$tmp/.complete"
    rm -rf "$TLS"; mv "$tmp" "$TLS"
}

# ---------------------------------------------------------------- client wrappers
write_wrappers() {
    mkdir -p "$STATE/bin" "$STATE/config-20"
    # sid's buildx and compose as plugins of the 28 CLIs only.
    local plugin config
    for config in config-28 config-28c config-28d config-28u; do
        mkdir -p "$STATE/$config/cli-plugins"
        for plugin in docker-buildx docker-compose; do
            ln -sfn "$SID/usr/libexec/docker/cli-plugins/$plugin" "$STATE/$config/cli-plugins/$plugin"
        done
    done
    # Each client its own DOCKER_CONFIG, so ~/.docker (contexts, plugins, builders) can't leak in.
    local w
    w=$(cat <<EOF
#!/bin/sh
# Generated by tests/engines/provision.sh: bookworm's docker CLI 20.10 for the 20.10 engine.
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH BUILDX_BUILDER
export DOCKER_HOST=unix://$(sock 20) DOCKER_BUILDKIT=1 DOCKER_CONFIG=$STATE/config-20
exec /usr/bin/docker "\$@"
EOF
)
    write_if_changed "$(client 20)" "$w"
    w=$(cat <<EOF
#!/bin/sh
# Generated by tests/engines/provision.sh: sid's docker CLI 28 (+ buildx, compose) for the 28 engine.
# "docker build" goes through buildx's default builder, i.e. the docker driver on this engine.
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH BUILDX_BUILDER
export DOCKER_HOST=unix://$(sock 28) DOCKER_BUILDKIT=1 DOCKER_CONFIG=$STATE/config-28
export PATH=$SID/usr/bin:$SID/usr/sbin:\$PATH
exec $SID/usr/bin/docker "\$@"
EOF
)
    write_if_changed "$(client 28)" "$w"
    w=$(cat <<EOF
#!/bin/sh
# Generated by tests/engines/provision.sh: the docker CLI 28 over the 28 engine's TLS listener.
unset DOCKER_CONTEXT BUILDX_BUILDER
export DOCKER_HOST=$TLS_HOST DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$TLS/client
export DOCKER_BUILDKIT=1 DOCKER_CONFIG=$STATE/config-28
export PATH=$SID/usr/bin:$SID/usr/sbin:\$PATH
exec $SID/usr/bin/docker "\$@"
EOF
)
    write_if_changed "$STATE/bin/docker-28-tls" "$w"
    local v what
    for v in 28c 28d 28u; do
        [[ $v == 28u ]] && what="userns-remap=default" || what="containerd image store"
        w=$(cat <<EOF
#!/bin/sh
# Generated by tests/engines/provision.sh: sid's docker CLI 28 for the $v engine ($what).
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH BUILDX_BUILDER
export DOCKER_HOST=unix://$(sock "$v") DOCKER_BUILDKIT=1 DOCKER_CONFIG=$STATE/config-$v
export PATH=$SID/usr/bin:$SID/usr/sbin:\$PATH
exec $SID/usr/bin/docker "\$@"
EOF
)
        write_if_changed "$(client "$v")" "$w"
    done
    for config in config-20 config-28 config-28c config-28d config-28u; do
        [[ -f $STATE/$config/config.json ]] || echo '{}' >"$STATE/$config/config.json"
    done
}

write_if_changed() {
    [[ -f $1 && $(<"$1") == "$2" ]] && return 0
    printf '%s\n' "$2" >"$1.tmp" && chmod 755 "$1.tmp" && mv "$1.tmp" "$1"
}

# ---------------------------------------------------------------- engines
answering() { timeout 10 "$(client "$1")" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# Is $1 a live process whose command line contains $2? Zombies count as dead: this machine's
# init reaps late, kill -0 still sees them, and dockerd would wait on a zombie containerd.
live_with() {
    local pid=$1 st
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    st=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ -n $st && $st != Z ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# TERM, wait up to $2 seconds, then KILL.
kill_wait() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < $2 * 2; i++)); do live_with "$pid" "" || return 0; sleep 0.5; done
    log "pid $pid still up after $2s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

# PID from the pidfile, only if that process is still our dockerd (pids get reused after a reboot).
engine_pid() {
    local pf pid
    pf=$(pidf "$1")
    [[ -s $pf ]] || return 1
    pid=$(<"$pf")
    live_with "$pid" "$(sock "$1")" || return 1
    echo "$pid"
}

# The containerd a dockerd supervised; left over if dockerd died hard. A leftover (or a stale
# pidfile naming a zombie or a reused pid) makes the next dockerd wait on it and fail: clear it.
stop_containerd() {
    local cpf=$RUNDIR/exec-$1/containerd/containerd.pid pid
    [[ -f $cpf ]] || return 0
    pid=$(<"$cpf")
    if live_with "$pid" "$RUNDIR/exec-$1/"; then kill_wait "$pid" 10; fi
    rm -f "$cpf"
}

# The engine's own bridge: dockerd needs a non-default --bridge to exist already, with its address.
setup_bridge() {
    local br=leaven$1 addr=${BRIDGE_ADDR[$1]}
    ip link show "$br" >/dev/null 2>&1 || ip link add name "$br" type bridge
    ip -4 addr show dev "$br" | grep -q "inet $addr" || ip addr replace "$addr" dev "$br"
    ip link set "$br" up
}

# Two Docker 28 daemons on one host fight over iptables: each flushes the DOCKER-FORWARD chain
# when it starts, dropping the other's rules (its containers then reach nothing, DNS included).
# So docker-28c, 28d and 28u run with --iptables=false and their bridges get forwarding and NAT
# from here, in rules of our own that no dockerd flushes.
own_nat() {
    local br=leaven$1 net
    net=$(ipcalc_network "${BRIDGE_ADDR[$1]}")
    iptables -t nat -C POSTROUTING -s "$net" ! -o "$br" -j MASQUERADE 2>/dev/null ||
        iptables -t nat -A POSTROUTING -s "$net" ! -o "$br" -j MASQUERADE
    iptables -C FORWARD -i "$br" -j ACCEPT 2>/dev/null || iptables -I FORWARD -i "$br" -j ACCEPT
    iptables -C FORWARD -o "$br" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT 2>/dev/null ||
        iptables -I FORWARD -o "$br" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
    # The networks compose makes come from the engine's pool, on bridges of their own (br-…);
    # bridged packets pass FORWARD here (bridge-nf-call-iptables), whose policy is DROP.
    local pool=${POOL[$1]}
    iptables -t nat -C POSTROUTING -s "$pool" ! -d "$pool" -j MASQUERADE 2>/dev/null ||
        iptables -t nat -A POSTROUTING -s "$pool" ! -d "$pool" -j MASQUERADE
    iptables -C FORWARD -s "$pool" -j ACCEPT 2>/dev/null || iptables -I FORWARD -s "$pool" -j ACCEPT
    iptables -C FORWARD -d "$pool" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT 2>/dev/null ||
        iptables -I FORWARD -d "$pool" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
}

# 10.29.0.1/24 -> 10.29.0.0/24 (the /24 bridges here only).
ipcalc_network() { local addr=${1%/*}; echo "${addr%.*}.0/${1#*/}"; }

# Flags of one engine besides the common ones.
engine_flags() {
    case $1 in
        28c | 28d | 28u) printf '%s\n' --iptables=false ;;
    esac
}

# MTU of the uplink (1400 here): containers' packets larger than that would be lost on the way out.
uplink_mtu() {
    local dev
    dev=$(ip -4 route show default 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')
    [[ -n $dev ]] && cat "/sys/class/net/$dev/mtu" 2>/dev/null || echo 1500
}

# Listeners besides the unix socket, one argument a line: docker-28 also serves TCP with mutual TLS.
extra_listeners() {
    [[ $1 == 28 ]] || return 0
    printf '%s\n' --host "$TLS_HOST" --tlsverify --tlscacert "$TLS/server/ca.pem" \
        --tlscert "$TLS/server/cert.pem" --tlskey "$TLS/server/key.pem"
}

start_engine() {
    local v=$1 pid
    # An engine started by an older provision lacks the listeners it has now: restart it.
    if pid=$(engine_pid "$v") && [[ -n $(extra_listeners "$v") ]] && ! live_with "$pid" "--host $TLS_HOST"; then
        log "docker-$v (pid $pid) runs without its TLS listener; restarting it"
        stop_engine "$v"
    fi
    if pid=$(engine_pid "$v"); then
        # Ours and alive: nothing to do once it answers.
        answering "$v" && return 0
        log "docker-$v (pid $pid) is running but not answering yet; waiting"
    else
        # The sockets are fixed paths: never start over an engine from another $LEAVEN_ENGINES.
        ! answering "$v" || die "$(sock "$v") is served by a dockerd not started from $STATE; stop that one first"
        setup_bridge "$v"
        local path dockerd
        if [[ $v == 20 ]]; then
            path=$SYS_PATH dockerd=/usr/sbin/dockerd
        else
            # sid's containerd, shim and docker-proxy first; bookworm's runc (sid's needs glibc 2.38).
            path=$SID/usr/bin:$SID/usr/sbin:$SYS_PATH dockerd=$SID/usr/sbin/dockerd
        fi
        mkdir -p "$RUNDIR" "$STATE/run" "$STATE/logs" "$STATE/data-$v" "$STATE/etc"
        rm -f "$(pidf "$v")"            # stale: its process is gone (engine_pid said so)
        stop_containerd "$v"
        write_if_changed "$STATE/etc/daemon-$v.json" "${DAEMON_JSON[$v]}"
        local extra
        mapfile -t extra < <(extra_listeners "$v"; engine_flags "$v")
        [[ -z $(engine_flags "$v") ]] || own_nat "$v"
        log "starting docker-$v (log: $STATE/logs/dockerd-$v.log)"
        # No --containerd: each dockerd supervises its own containerd under its exec root.
        # setsid: the daemon must outlive this script and its caller's process group;
        # 9>&-: it must not inherit (and so hold forever) our lock.
        env -i PATH="$path" HOME=/root setsid "$dockerd" \
            --host "unix://$(sock "$v")" "${extra[@]}" \
            --config-file "$STATE/etc/daemon-$v.json" \
            --data-root "$STATE/data-$v" \
            --exec-root "$RUNDIR/exec-$v" \
            --pidfile "$(pidf "$v")" \
            --bridge "leaven$v" \
            --default-address-pool "base=${POOL[$v]},size=24" \
            --mtu "$(uplink_mtu)" \
            </dev/null >>"$STATE/logs/dockerd-$v.log" 2>&1 9>&- &
        pid=$!
        disown
    fi
    local i
    for ((i = 0; i < 60; i++)); do
        answering "$v" && return 0
        # setsid forks when it leads its process group (under job control), so $pid
        # can be gone before dockerd has written its pidfile: the daemon is then
        # found by its socket in its command line.
        if ! live_with "$pid" dockerd && ! engine_pid "$v" >/dev/null && ! pgrep -f -- "unix://$(sock "$v")" >/dev/null; then
            tail -n 30 "$STATE/logs/dockerd-$v.log" >&2
            die "docker-$v exited; see $STATE/logs/dockerd-$v.log"
        fi
        sleep 1
    done
    tail -n 30 "$STATE/logs/dockerd-$v.log" >&2
    die "docker-$v did not answer within 60s"
}

stop_engine() {
    local pid
    if pid=$(engine_pid "$1"); then
        log "stopping docker-$1 (pid $pid)"
        kill_wait "$pid" 30
    fi
    stop_containerd "$1"
    rm -f "$(pidf "$1")"
}

# ---------------------------------------------------------------- registry
registry_pidf() { echo "$STATE/run/registry.pid"; }
registry_answering() { [[ $(curl -s -o /dev/null -w '%{http_code}' "http://$REGISTRY_ADDR/v2/" 2>/dev/null) == 200 ]]; }

start_registry() {
    local pid
    pid=$(cat "$(registry_pidf)" 2>/dev/null || true)
    if live_with "$pid" docker-registry && registry_answering; then return 0; fi
    ! registry_answering || die "$REGISTRY_ADDR is served by a registry not started from $STATE; stop it first"
    mkdir -p "$STATE/registry" "$STATE/run" "$STATE/etc"
    # The packaged config listens on :5000 with htpasswd auth; ours is loopback and open.
    printf '%s\n' 'version: 0.1' 'log:' '  level: warn' 'storage:' '  filesystem:' \
        "    rootdirectory: $STATE/registry" '  delete:' '    enabled: true' 'http:' "  addr: $REGISTRY_ADDR" \
        >"$STATE/etc/registry.yml"
    log "starting the registry at $REGISTRY_ADDR (log: $STATE/logs/registry.log)"
    env -i PATH="$SYS_PATH" setsid docker-registry serve "$STATE/etc/registry.yml" \
        </dev/null >>"$STATE/logs/registry.log" 2>&1 9>&- &
    echo $! >"$(registry_pidf)"
    disown
    local i
    for ((i = 0; i < 30; i++)); do registry_answering && return 0; sleep 0.5; done
    tail -n 20 "$STATE/logs/registry.log" >&2
    die "the registry did not answer at $REGISTRY_ADDR"
}

stop_registry() {
    local pid
    pid=$(cat "$(registry_pidf)" 2>/dev/null || true)
    if live_with "$pid" docker-registry; then log "stopping the registry ($pid)"; kill_wait "$pid" 10; fi
    rm -f "$(registry_pidf)"
}

# ---------------------------------------------------------------- base images
# Stand-ins for the images a web app names (nothing can be pulled): each is
# debootstrapped once per machine into a tarball, then imported where missing.
#   name                               debootstrap --include           engines
BASE_IMAGES=(
    "leaven-test/debian:bookworm        python3,ca-certificates          20,28,28c,28d,28u"
    "leaven-test/python:3.11-bookworm   python3,python-is-python3,python3-venv,python3-pip,ca-certificates  28"
    "leaven-test/node:bookworm          nodejs,npm,ca-certificates       28"
)

# $2: a stand-in's stamp, part of its tarball's name.
tar_of() { echo "$STATE/images/$(echo "$1" | tr '/:' '__')${2:+-$2}.tar"; }

make_base_tar() {
    local name=$1 include=$2 arch=${3:-amd64} tarball root
    tarball=$(tar_of "$name")
    [[ -f $tarball ]] && return 0
    root=$STATE/images/rootfs.tmp
    log "debootstrapping $name for $arch (a minute, several under emulation; once per machine)"
    rm -rf "$root"; mkdir -p "$root"
    local packages=()
    # npm cannot be configured inside debootstrap's minbase; it is added afterwards.
    [[ -z $include ]] || packages=(--include="${include//,npm/}")
    debootstrap --arch="$arch" --variant=minbase "${packages[@]}" bookworm "$root" "$(mirror)" \
        >"$STATE/logs/debootstrap.log" 2>&1 || { tail -n 30 "$STATE/logs/debootstrap.log" >&2; die "debootstrap failed"; }
    if [[ $include == *npm* ]]; then
        # With apt inside the new root, npm gets all its dependencies (from
        # debootstrap it would miss some: "Cannot find module 'color-support'").
        cp /etc/resolv.conf "$root/etc/resolv.conf"
        { chroot "$root" apt-get update && chroot "$root" apt-get -f install -y \
            && DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y --no-install-recommends npm; } \
            >>"$STATE/logs/debootstrap.log" 2>&1 || { tail -n 30 "$STATE/logs/debootstrap.log" >&2; die "npm fix-up failed"; }
    fi
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
}

# A stand-in made from a changed recipe replaces the engine's: its label leaven.stand-in says which.
# $3: that stamp ("" for a base), $4…: the image's config (docker import --change lines).
import_base() {
    local engine=$1 name=$2 stamp=${3:-} c
    shift; shift; (($#)) && shift
    c=$(client "$engine")
    if [[ $engine == 28c || $engine == 28d ]]; then copy_base_through_registry "$engine" "$name"; return; fi
    if [[ -z $stamp ]]; then
        "$c" image inspect "$name" >/dev/null 2>&1 && return 0
    else
        [[ $("$c" image inspect --format '{{index .Config.Labels "leaven.stand-in"}}' "$name" 2>/dev/null) == "$stamp" ]] && return 0
        set -- "$@" "LABEL leaven.stand-in=$stamp"
    fi
    if [[ $engine == 28u ]]; then
        # The same image as on docker-28 (same ID), stored remapped.
        log "copying $name from docker-28 to docker-28u (save | load)"
        "$(client 28)" save "$name" | "$c" load -q >/dev/null
        return
    fi
    (($#)) || set -- 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' 'CMD ["/bin/bash"]'
    local changes=() change
    for change in "$@"; do changes+=(--change "$change"); done
    log "importing $name into docker-$engine"
    "$c" import "${changes[@]}" "$(tar_of "$name" "$stamp")" "$name" >/dev/null
}

# The containerd-store engines (docker-28c, docker-28d) get docker-28's image through the
# registry, as a pulled image: every node then has the same image (an import stamps its own
# creation time), so a build cache one containerd node exports is a hit on the other.
copy_base_through_registry() {
    local engine=$1 name=$2 pulled=$REGISTRY_ADDR/$2 c
    c=$(client "$engine")
    "$c" image inspect "$pulled" >/dev/null 2>&1 && "$c" image inspect "$name" >/dev/null 2>&1 && return 0
    log "copying $name from docker-28 to docker-$engine through the registry"
    "$(client 28)" tag "$name" "$pulled"
    "$(client 28)" push -q "$pulled" >/dev/null
    "$c" pull -q "$pulled" >/dev/null
    "$c" tag "$pulled" "$name"
}

base_images() {
    local line name include engines v
    for line in "${BASE_IMAGES[@]}"; do
        read -r name include engines <<<"$line"
        make_base_tar "$name" "$include"
        for v in ${engines//,/ }; do import_base "$v" "$name"; done
    done
}

# ---------------------------------------------------------------- service stand-ins
# postgres:16 and redis:7 as a compose file names them, made from Debian's packages (bookworm
# has PostgreSQL 15 and Redis 7.0) on top of the Debian base. Like the official images they run
# their entrypoint as root, which makes the data dir the service user's and then runs the
# service as that user; the users have UID/GID 999 as there (made before the package, whose
# adduser --system keeps an existing system user).
#   name                     packages                 user     data dir                    engines
SERVICE_IMAGES=(
    "leaven-test/postgres:16  postgresql                     postgres /var/lib/postgresql/data  28,28u"
    "leaven-test/redis:7      redis-server                   redis    /data                     28,28u"
)

# The image config of each stand-in (docker import --change lines), as the official images have.
service_config() {
    case $1 in
        leaven-test/postgres:*)
            printf '%s\n' 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/lib/postgresql/15/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
                'ENV PGDATA=/var/lib/postgresql/data' 'ENV LANG=C.UTF-8' 'VOLUME /var/lib/postgresql/data' \
                'ENTRYPOINT ["docker-entrypoint.sh"]' 'STOPSIGNAL SIGINT' 'EXPOSE 5432' 'CMD ["postgres"]' ;;
        leaven-test/redis:*)
            printf '%s\n' 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
                'VOLUME /data' 'WORKDIR /data' 'ENTRYPOINT ["docker-entrypoint.sh"]' 'EXPOSE 6379' 'CMD ["redis-server"]' ;;
    esac
}

# The entrypoints, after the official images' (root: own the data dir, then drop to the user).
postgres_entrypoint() {
    cat <<'EOF'
#!/bin/bash
# leaven-test/postgres: as the official image, honours POSTGRES_PASSWORD, POSTGRES_USER,
# POSTGRES_DB and PGDATA; as root it makes PGDATA postgres's and runs again as postgres.
set -Eeo pipefail
export PGDATA=${PGDATA:-/var/lib/postgresql/data}
if [[ ${1:0:1} == - ]]; then set -- postgres "$@"; fi
if [[ $1 != postgres ]]; then exec "$@"; fi
if [[ $(id -u) == 0 ]]; then
    mkdir -p "$PGDATA"
    chmod 700 "$PGDATA" || :
    mkdir -p /var/run/postgresql || :
    find "$PGDATA" \! -user postgres -exec chown postgres '{}' +
    find /var/run/postgresql \! -user postgres -exec chown postgres '{}' +
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi
if [[ ! -s $PGDATA/PG_VERSION ]]; then
    if [[ -z ${POSTGRES_PASSWORD:-} && ${POSTGRES_HOST_AUTH_METHOD:-} != trust ]]; then
        echo 'Error: the database is uninitialized and POSTGRES_PASSWORD is not set' >&2
        exit 1
    fi
    user=${POSTGRES_USER:-postgres} db=${POSTGRES_DB:-${POSTGRES_USER:-postgres}}
    initdb --username="$user" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") --auth-local=trust \
        --auth-host="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" --locale=C.UTF-8
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    echo "host all all all ${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >>"$PGDATA/pg_hba.conf"
    if [[ $db != postgres ]]; then
        # On a socket of its own: a healthcheck's pg_isready must not see this server, which stops.
        init_socket=$(mktemp -d)
        pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=$init_socket" -w start
        psql -v ON_ERROR_STOP=1 --host="$init_socket" --username="$user" --dbname=postgres -c "CREATE DATABASE \"$db\""
        pg_ctl -D "$PGDATA" -m fast -w stop
        rmdir "$init_socket"
    fi
    echo 'PostgreSQL init process complete; ready for start up.'
fi
exec "$@"
EOF
}

redis_entrypoint() {
    cat <<'EOF'
#!/bin/bash
# leaven-test/redis: as the official image, runs redis-server as redis, owning its data dir.
set -e
if [[ ${1:0:1} == - || $1 == *.conf ]]; then set -- redis-server "$@"; fi
if [[ $1 == redis-server && $(id -u) == 0 ]]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$BASH_SOURCE" "$@"
fi
# Built without a config file, like the official image: not only loopback.
if [[ $1 == redis-server ]]; then set -- "$@" --protected-mode no; fi
exec "$@"
EOF
}

# What a stand-in is made from: a changed entrypoint or config makes a new one.
service_stamp() {
    { printf '%s\n' "$@"; "${3}_entrypoint"; service_config "$1"; } | sha256sum | cut -c1-12
}

make_service_tar() {
    local name=$1 packages=$2 user=$3 data=$4 stamp=$5 tarball root old
    tarball=$(tar_of "$name" "$stamp")
    [[ -f $tarball ]] && return 0
    for old in "$(tar_of "$name")" "${tarball%-*}"-*.tar; do [[ $old == "$tarball" ]] || rm -f "$old"; done
    root=$STATE/images/service-rootfs.tmp
    log "making $name from Debian's ${packages//,/ } (a minute; once per machine)"
    rm -rf "$root"; mkdir -p "$root"
    tar --numeric-owner -C "$root" -xf "$(tar_of leaven-test/debian:bookworm)"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"; chmod +x "$root/usr/sbin/policy-rc.d"
    local home=/var/lib/$user
    [[ $user == postgres ]] && home=/var/lib/postgresql
    # The official images' ids; the packages' adduser --system keeps an existing system user.
    chroot "$root" groupadd -r -g 999 "$user"
    chroot "$root" useradd -r -g "$user" -u 999 -d "$home" -s /bin/bash "$user"
    if [[ $user == postgres ]]; then
        # No cluster of Debian's own (/var/lib/postgresql/15/main): the entrypoint makes $PGDATA.
        mkdir -p "$root/etc/postgresql-common"
        echo 'create_main_cluster = false' >"$root/etc/postgresql-common/createcluster.conf"
    fi
    { chroot "$root" apt-get update &&
        DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y --no-install-recommends ${packages//,/ }; } \
        >"$STATE/logs/service-images.log" 2>&1 || { tail -n 30 "$STATE/logs/service-images.log" >&2; die "installing ${packages//,/ } failed"; }
    [[ $(chroot "$root" id -u "$user"):$(chroot "$root" id -g "$user") == 999:999 ]] ||
        die "$name: the package changed $user's ids to $(chroot "$root" id "$user")"
    "${user}_entrypoint" >"$root/usr/local/bin/docker-entrypoint.sh"
    chmod 755 "$root/usr/local/bin/docker-entrypoint.sh"
    # The data dir belongs to the user in the image, as a fresh named volume then does.
    mkdir -p "$root$data"
    chroot "$root" chown "$user:$user" "$data"
    if [[ $user == postgres ]]; then
        chmod 1777 "$root$data"
        mkdir -p "$root/var/run/postgresql"; chroot "$root" chown postgres:postgres /var/run/postgresql
        chmod 3777 "$root/var/run/postgresql"
    fi
    rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/resolv.conf"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
}

service_images() {
    local line name packages user data engines v config stamp
    for line in "${SERVICE_IMAGES[@]}"; do
        read -r name packages user data engines <<<"$line"
        stamp=$(service_stamp "$name" "$packages" "$user" "$data")
        make_service_tar "$name" "$packages" "$user" "$data" "$stamp"
        mapfile -t config < <(service_config "$name")
        # docker-28 first: docker-28u copies it from there.
        for v in ${engines//,/ }; do import_base "$v" "$name" "$stamp" "${config[@]}"; done
    done
}

# ---------------------------------------------------------------- a second platform
# arm64 through qemu-user-static: binfmt_misc is not mounted on a fresh machine, but mounts as root.
setup_emulation() {
    [[ -e /proc/sys/fs/binfmt_misc/status ]] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || return 1
    [[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] || update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || update-binfmts --import >/dev/null 2>&1 || true
    [[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]
}

# A Debian base for linux/amd64 and linux/arm64 as one image index in the registry
# ($MULTI_BASE), for multi-platform builds: each engine pulls the platform it builds.
MULTI_BASE=$REGISTRY_ADDR/leaven-test/debian:bookworm-multi
multi_platform_base() {
    if ! setup_emulation; then
        log "no arm64 emulation here (binfmt_misc refused): multi-platform tests build stages without run"
        return 0
    fi
    curl -sf -o /dev/null -H 'Accept: application/vnd.oci.image.index.v1+json' \
        "http://$REGISTRY_ADDR/v2/leaven-test/debian/manifests/bookworm-multi" && return 0
    local arm=$REGISTRY_ADDR/leaven-test/debian:bookworm-arm64 amd=$REGISTRY_ADDR/leaven-test/debian:bookworm-amd64
    make_base_tar leaven-test/debian:bookworm-arm64 "" arm64
    log "making $MULTI_BASE (amd64 from docker-28, arm64 imported into docker-28c)"
    "$(client 28c)" import --platform linux/arm64 \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/sh"]' "$(tar_of leaven-test/debian:bookworm-arm64)" "$arm" >/dev/null
    "$(client 28c)" push -q "$arm" >/dev/null
    "$(client 28)" tag leaven-test/debian:bookworm "$amd"
    "$(client 28)" push -q "$amd" >/dev/null
    "$(client 28c)" buildx imagetools create -t "$MULTI_BASE" "$amd" "$arm" >/dev/null 2>>"$STATE/logs/imagetools.log" ||
        die "could not make $MULTI_BASE (see $STATE/logs/imagetools.log)"
}

status() {
    local v
    for v in "${ENGINES[@]}"; do
        printf 'docker-%s unix://%s %s\n' "$v" "$(sock "$v")" \
            "$(timeout 10 "$(client "$v")" version --format '{{.Server.Version}}' 2>/dev/null || echo 'not running')"
    done
    printf 'registry http://%s %s\n' "$REGISTRY_ADDR" "$(registry_answering && echo answering || echo 'not running')"
    printf 'docker-28-tls %s %s\n' "$TLS_HOST" \
        "$(timeout 10 "$STATE/bin/docker-28-tls" version --format '{{.Server.Version}}' 2>/dev/null || echo 'not answering')"
}

# ---------------------------------------------------------------- main
mkdir -p "$STATE/logs" "$STATE/images"
# One provisioner at a time: tests in parallel may all call this.
exec 9>"$STATE/.lock"
if [[ ${1:-start} == status ]]; then
    :                               # read-only: no need to wait
elif [[ ${1:-start} == stop ]]; then
    flock -w 120 9 || log "warning: $STATE/.lock still held after 120s; stopping anyway"
else
    flock -w 900 9 || die "another provision.sh holds $STATE/.lock"
fi

case ${1:-start} in
    start)
        install_host_packages
        stop_system_docker
        install_sid
        fix_sid_links
        make_tls
        write_wrappers
        for v in "${ENGINES[@]}"; do start_engine "$v"; done
        start_registry
        base_images
        service_images
        multi_platform_base
        status
        ;;
    stop)
        if (($# > 1)); then
            for v in "${@:2}"; do [[ -n ${POOL[$v]:-} ]] || die "no engine $v: the engines are ${ENGINES[*]}"; stop_engine "$v"; done
        else
            for v in "${ENGINES[@]}"; do stop_engine "$v"; done
            stop_registry
        fi
        ;;
    status)
        status
        ;;
    *)
        die "usage: $0 [start|stop|status]"
        ;;
esac
