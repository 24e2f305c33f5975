# leaven bake's side of tests/faults.rs: the slow spec, whose engine is stopped
# mid-build, then built again once the engine is back.

variable "NONCE" {
  default = ""
}

variable "SLEEP" {
  default = "48"
}

variable "TAG" {
  default = "leaven-faults/slow-driver:1"
}

target "slow" {
  context    = "slow"
  dockerfile = "app.hcl"
  args = {
    NONCE = NONCE
    SLEEP = SLEEP
  }
  tags   = [TAG]
  output = ["type=docker"]
}
