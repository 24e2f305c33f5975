# syntax=leaven:dev
# tests/faults.rs builds this 16 times at once through the frontend, each with
# its own N, all sharing one cache mount.

variable "BASE" {
  default = "leaven-test/debian:bookworm"
}

variable "N" {
  default = "0"
}

image "load" {
  from = BASE
  run "mkdir -p /cache/seen\necho $N > /cache/seen/$N\necho $N > /n" {
    env = { N = N }
    cache {
      target = "/cache"
      id     = "leaven-faults-load"
    }
  }
  cmd = ["cat", "/n"]
}
