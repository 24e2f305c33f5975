# syntax=leaven:dev
# A step that runs until the engine goes away: tests/faults.rs stops the engine
# while it runs. NONCE keeps it from being a cache hit.

variable "BASE" {
  default = "leaven-test/debian:bookworm"
}

variable "NONCE" {
  default = ""
}

variable "SLEEP" {
  # Each build the test interrupts sleeps its own time, so that it can tell
  # the step's process from one an earlier build left running.
  default = "47"
}

image "slow" {
  from = BASE
  run "echo $NONCE > /nonce\nsleep $SLEEP" {
    env = { NONCE = NONCE, SLEEP = SLEEP }
  }
  cmd = ["cat", "/nonce"]
}
