# Source this after tests/engines/provision.sh: the engines' clients.
#   . tests/engines/env.sh; "$DOCKER_20" build ...; "$DOCKER_28" buildx bake ...
export LEAVEN_ENGINES=${LEAVEN_ENGINES:-/var/lib/leaven-engines}
export DOCKER_20=$LEAVEN_ENGINES/bin/docker-20   # Engine 20.10.24, bookworm CLI, BuildKit on
export DOCKER_28=$LEAVEN_ENGINES/bin/docker-28   # Engine 28.5.2, sid CLI + buildx + compose
export DOCKER_28C=$LEAVEN_ENGINES/bin/docker-28c # a second 28.5.2 engine, containerd image store
export DOCKER_28D=$LEAVEN_ENGINES/bin/docker-28d # a third, also the containerd image store (split targets)
export LEAVEN_REGISTRY=127.0.0.1:25000            # the loopback registry (plain HTTP)
export DOCKER_28_TLS=$LEAVEN_ENGINES/bin/docker-28-tls   # the 28 engine over tcp with mutual TLS
export LEAVEN_TLS_HOST=tcp://127.0.0.1:23760               # that TLS listener
export LEAVEN_TLS_CERTS=$LEAVEN_ENGINES/tls/client         # its client's ca.pem, cert.pem, key.pem
export LEAVEN_MULTI_BASE=127.0.0.1:25000/leaven-test/debian:bookworm-multi  # linux/amd64 + linux/arm64, where emulation works
export DOCKER_28U=$LEAVEN_ENGINES/bin/docker-28u # a 28.5.2 engine with userns-remap=default (dockremap 100000:65536)
export LEAVEN_28U_HOST=unix:///run/leaven-test/docker-28u.sock   # its socket, for DOCKER_HOST
