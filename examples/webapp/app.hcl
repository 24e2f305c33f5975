# syntax=leaven:dev
#
# A small web app the way leaven builds one: assets and dependencies in their own
# stages (built in parallel), a release image that gets only their outputs, a
# non-root user, migrations at start-up (never at build time), and dev and CI
# variants of the same image.

variable "PYTHON" {
  # A stand-in for python:3.13-slim-bookworm on machines with no registry.
  default = "leaven-test/debian:bookworm"
}

variable "GIT_REVISION" {
  default = "unknown"
}

user "app" {}

# Static files are built at image time, in their own stage.
stage "assets" {
  from    = PYTHON
  workdir = "/build"
  run "python3 build_assets.py assets /build/static" {
    bind { source = "build_assets.py" }
    bind { source = "assets" }
  }
}

# Dependencies: only the lockfile is an input, so code changes never rebuild them.
stage "deps" {
  from = PYTHON
  run "python3 -c 'import sys; open(\"/install/vendored.py\", \"w\").write(\"PINNED = %r\\n\" % open(\"requirements.txt\").read().split())'" {
    workdir = "/install"
    cache { target = "/root/.cache/pip" }
    bind {
      source = "requirements.txt"
      target = "/install/requirements.txt"
    }
  }
}

image "release" {
  from    = PYTHON
  workdir = "/src"
  env = {
    PYTHONPATH = "/usr/local/lib/app-deps"
  }
  copy {
    from   = stage.deps
    source = "/install/vendored.py"
    dest   = "/usr/local/lib/app-deps/vendored.py"
    link   = true
  }
  copy {
    source  = "."
    dest    = "/src"
    exclude = ["assets", "build_assets.py", "*.hcl", "Dockerfile"]
    chown   = user.app
  }
  copy {
    from   = stage.assets
    source = "/build/static"
    dest   = "/src/static"
    chown  = user.app
  }
  on_start = ["python3 manage.py migrate"]
  cmd      = ["python3", "manage.py", "serve"]
  expose   = [8000]
  healthcheck {
    test           = ["CMD", "python3", "manage.py", "check"]
    interval       = "30s"
    start_interval = "1s"
    retries        = 3
  }
  labels = {
    "org.example.team" = "web"
  }
  revision = GIT_REVISION
}

# The source tree is mounted at run time; the UID follows HOST_UID.
variant "dev" {}

# Everything copied in, with a fixed UID (9500) so CI never depends on who runs it.
variant "ci" {}
