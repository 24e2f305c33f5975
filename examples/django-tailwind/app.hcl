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

variable "PYTHON" {
  default = "python:3.13-slim-bookworm"
}

variable "NODE" {
  default = "node:22-bookworm-slim"
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
    start_period   = "10s"
    start_interval = "1s"
  }
}

variant "dev" {}
variant "ci" {}
