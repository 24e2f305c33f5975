# leaven bake's end-to-end build: Dockerfile and spec targets, a target linked to
# another, secrets, an SSH agent, --load tags and file outputs. tests/driver.rs
# runs it against each engine, and docker buildx bake on the same file.

variable "PREFIX" {
  # Image names: each engine and tool gets its own.
  default = "leaven-drive"
}

variable "OUT" {
  # Where file outputs go.
  default = "out"
}

variable "REGISTRY" {
  default = "127.0.0.1:25000"
}

group "default" {
  targets = ["web", "web-again", "app", "extra", "web-dir", "web-tar", "syntaxed"]
}

# Needs a Dockerfile frontend with named contexts (BuildKit v0.10+) and
# several exporters per build (v0.13+).
group "modern" {
  targets = ["extra-df", "web-both", "vault"]
}

target "web" {
  context = "web"
  args = {
    GREETING = "hello from bake"
  }
  secret = ["id=token,src=secret.txt", "id=envtok,env=LEAVEN_TEST_TOKEN"]
  ssh    = ["default"]
  tags   = ["${PREFIX}/web:1", "${PREFIX}/web:latest"]
  output = ["type=docker"]
}

# The same build as web under another name: built once.
target "web-again" {
  inherits = ["web"]
}

target "web-dir" {
  inherits = ["web"]
  tags     = []
  output   = ["type=local,dest=${OUT}/web-dir"]
}

target "web-tar" {
  inherits = ["web"]
  tags     = []
  output   = ["type=tar,dest=${OUT}/web.tar"]
}

# Two file outputs from one build.
target "web-both" {
  inherits = ["web"]
  tags     = []
  output   = ["type=local,dest=${OUT}/both-dir", "type=tar,dest=${OUT}/both.tar"]
}

# A leaven spec: compiled by leaven bake itself, by the leaven:dev frontend under buildx.
target "app" {
  context    = "app"
  dockerfile = "app.hcl"
  tags       = ["${PREFIX}/app:1", "${PREFIX}/app:latest"]
  output     = ["type=docker"]
}

# A spec whose step reads both secrets and the SSH agent (environment secrets
# need BuildKit v0.10+). Its context is web's, for the same agent.py.
target "vault" {
  context    = "web"
  dockerfile = "../vault/app.hcl"
  secret     = ["id=token,src=secret.txt", "id=envtok,env=LEAVEN_TEST_TOKEN"]
  ssh        = ["default"]
  tags       = ["${PREFIX}/vault:1"]
  output     = ["type=docker"]
}

# A spec built on the app target's result.
target "extra" {
  context    = "extra"
  dockerfile = "app.hcl"
  contexts = {
    app = "target:app"
  }
  tags   = ["${PREFIX}/extra:1"]
  output = ["type=docker"]
}

# A Dockerfile built on the app target's result (FROM app), with a named local
# context and a docker-image:// one.
target "extra-df" {
  context = "extra-df"
  contexts = {
    app   = "target:app"
    notes = "extra-df-notes"
    base  = "docker-image://leaven-test/debian:bookworm"
  }
  tags   = ["${PREFIX}/extra-df:1"]
  output = ["type=docker"]
}

# A Dockerfile whose own `# syntax=` names another frontend image.
target "syntaxed" {
  context = "syntaxed"
  tags    = ["${PREFIX}/syntaxed:1"]
  output  = ["type=docker"]
}

target "broken" {
  context    = "broken"
  dockerfile = "app.hcl"
  output     = ["type=cacheonly"]
}

# Pushed with its cache inline, then built again from that cache on a pruned engine.
target "cached" {
  context  = "cached"
  tags     = ["${REGISTRY}/${PREFIX}/cached:1"]
  output   = ["type=image,push=true"]
  cache-to = ["type=inline"]
}

target "cached-again" {
  inherits   = ["cached"]
  cache-from = ["type=registry,ref=${REGISTRY}/${PREFIX}/cached:1"]
  cache-to   = []
  output     = ["type=docker"]
}

# A push to a registry nobody listens on.
target "unreachable" {
  context = "cached"
  tags    = ["127.0.0.1:9/${PREFIX}/unreachable:1"]
  output  = ["type=image,push=true"]
}

target "slow" {
  context = "slow"
  output  = ["type=cacheonly"]
}
