# syntax=leaven:dev
#
# The smallest useful leaven spec: one image, a non-root user whose UID follows
# the host's (HOST_UID, default 1000), a cached run step and a copy owned by it.

variable "BASE" {
  # A stand-in for python:3.13-slim-bookworm on machines with no registry.
  default = "leaven-test/debian:bookworm"
}

variable "NONCE" {
  # Changing it reruns the step below; the cache mount keeps its files.
  default = ""
}

user "app" {}

image "app" {
  from    = BASE
  workdir = "/app"
  env = {
    APP_ENV = "production"
  }

  run "date +%s%N >> /var/cache/demo/runs && wc -l < /var/cache/demo/runs > /build-runs" {
    env = { NONCE = NONCE }
    cache {
      target = "/var/cache/demo"
      id     = "hello-demo"
    }
  }

  copy {
    source = "hello.txt"
    dest   = "hello.txt"
    chown  = user.app
  }

  cmd = ["cat", "/app/hello.txt"]
}
