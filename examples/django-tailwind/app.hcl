# syntax=leaven:dev
#
# A Django + Tailwind site, built the way careful teams hand-write it:
#   - Python packages and the Tailwind CSS build in their own stages (in parallel),
#     each with its package cache in a cache mount and only its lockfiles as input;
#   - collectstatic at build time with build-only settings;
#   - a release image that gets only the outputs (packages, static files): no
#     compiler, no Node;
#   - a non-root user whose UID follows the host (HOST_UID), CI's fixed at 9500;
#   - migrations when the container starts, never during the build.
#
# docker build -f app.hcl --build-arg HOST_UID=$(id -u) .              # release
# docker build -f app.hcl --target dev .  /  --target ci .             # variants
# Behind a TLS-intercepting proxy, pass its CA bundle as the secret "ca" (the
# installs use it when it is there):
#   --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt
#
# How it runs: `leaven compose app.hcl` writes compose.{release,dev,ci}.yaml from
# the service blocks below, and leaven.mk (make up, test, ...):
#   HOST_UID=$(id -u) docker compose -f compose.dev.yaml up -d --wait

variable "PYTHON" {
  default = "python:3.13-slim-bookworm"
}

variable "NODE" {
  default = "node:22-bookworm-slim"
}

# Backing services' images, pinned as every image a stack runs.
variable "POSTGRES" {
  default = "postgres:16-bookworm"
}

variable "REDIS" {
  default = "redis:7-bookworm"
}

variable "PYTHONPATH" {
  description = "extra import path; the Debian stand-in for python: needs its site-packages"
  default     = ""
}

user "app" {}

stage "deps" {
  from = PYTHON
  pip {
    requirements = "requirements.txt"
    prefix       = "/install"
    ca_secret    = "ca"
  }
}

stage "css" {
  from    = NODE
  workdir = "/build"
  npm {
    ca_secret = "ca"
  }
  copy {
    source = ["tailwind.config.js"]
    dest   = "/build/"
  }
  copy {
    source = "assets"
    dest   = "/build/assets"
  }
  copy {
    source = "pages/templates"
    dest   = "/build/pages/templates"
  }
  tailwind {
    input  = "assets/css/input.css"
    output = "/build/static/css/app.css"
  }
}

# collectstatic needs Django, the built CSS and the parts of the code it reads;
# its output is all the release image takes from here.
stage "static" {
  from    = PYTHON
  workdir = "/src"
  env = {
    PYTHONPATH = PYTHONPATH
  }
  copy {
    from   = stage.deps
    source = "/install"
    dest   = "/usr/local"
  }
  copy {
    from   = stage.css
    source = "/build/static/css"
    dest   = "/src/static/css"
  }
  # Copies in only what collectstatic reads (the settings, the apps' packages,
  # models, migrations and static dirs): a change to views or templates reuses
  # the collected files.
  collectstatic {
    settings = "config.settings"
  }
}

image "release" {
  from    = PYTHON
  workdir = "/src"
  env = {
    DJANGO_SETTINGS_MODULE = "config.settings"
    PYTHONUNBUFFERED       = "1"
    PYTHONPATH             = PYTHONPATH
  }
  copy {
    from   = stage.deps
    source = "/install"
    dest   = "/usr/local"
    link   = true
  }
  copy {
    source  = "."
    dest    = "/src"
    exclude = ["assets", "node_modules", "package*.json", "tailwind.config.js", "*.hcl"]
    chown   = user.app
  }
  copy {
    from   = stage.static
    source = "/src/staticfiles"
    dest   = "/src/staticfiles"
    chown  = user.app
  }
  on_start = ["python manage.py migrate --noinput"]
  cmd      = ["python", "-m", "gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000"]
  expose   = [8000]
  healthcheck {
    test           = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/')"]
    interval       = "30s"
    start_period   = "60s"
    start_interval = "1s"
  }
}

# The source tree is mounted (a template edited on the host shows on the next
# request); the built static files stay visible; SQLite lives in the tree.
variant "dev" {
  cmd = ["python", "manage.py", "runserver", "--nostatic", "0.0.0.0:8000"]
  env = {
    DJANGO_DEBUG  = "1"
    DATABASE_PATH = "/src/db.sqlite3"
  }
}

variant "ci" {
  test = ["python", "manage.py", "test", "--noinput"]
}

# The web app runs the start-up tasks (migrations), once; the worker, the same
# image with its own command, skips them. Each waits for what it refers to.
service "web" {
  image    = image.release
  on_start = true
  ports    = ["$${WEB_PORT:-8000}:8000"]
  env = {
    DATABASE_HOST = service.db.host
    REDIS_HOST    = service.cache.host
  }
  # Settings and secrets come from files beside the spec, never from the image.
  env_file = [".env"]
  secrets  = ["django_secret_key"]
}

service "worker" {
  image   = image.release
  command = ["python", "manage.py", "worker"]
  env = {
    REDIS_HOST = service.cache.host
  }
  # The image's healthcheck asks the web server; a worker answers for itself.
  healthcheck {
    test           = ["CMD", "test", "-f", "/tmp/worker.ready"]
    interval       = "30s"
    start_period   = "30s"
    start_interval = "1s"
  }
}

service "db" {
  image = POSTGRES
  env = {
    POSTGRES_USER = "app"
    POSTGRES_DB   = "app"
  }
  # POSTGRES_PASSWORD=...
  env_file = ["db.env"]
  healthcheck {
    test     = ["CMD-SHELL", "pg_isready -U app -d app"]
    interval = "2s"
    timeout  = "5s"
    retries  = 30
  }
  volume {
    name   = "pgdata"
    target = "/var/lib/postgresql/data"
  }
}

service "cache" {
  image = REDIS
  healthcheck {
    test     = ["CMD", "redis-cli", "ping"]
    interval = "2s"
    retries  = 30
  }
}
