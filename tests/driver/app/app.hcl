# syntax=leaven:dev
# The spec target of tests/driver/docker-bake.hcl.

variable "BASE" {
  default = "leaven-test/debian:bookworm"
}

user "app" {}

image "app" {
  from = BASE
  env = {
    APP_ENV = "production"
  }
  copy {
    source = "hello.txt"
    dest   = "/app/hello.txt"
    chown  = user.app
  }
  workdir = "/app"
  cmd     = ["cat", "/app/hello.txt"]
}
