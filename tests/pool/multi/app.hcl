# syntax=leaven:dev
# Built for linux/amd64 and linux/arm64 at once (tests/pool.rs): each platform
# from its own base image, its own run step (under emulation for arm64).

variable "BASE" {
  # An image index of Debian for both platforms, in the test registry.
  default = "127.0.0.1:25000/leaven-test/debian:bookworm-multi"
}

image "multi" {
  from = BASE
  run "uname -m > /arch" {}
  copy {
    source = "note.txt"
    dest   = "/note.txt"
  }
  cmd = ["cat", "/arch"]
}
