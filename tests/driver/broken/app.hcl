# syntax=leaven:dev
# A spec whose run step fails: the error must name the target, the step and this line.

image "broken" {
  from = "leaven-test/debian:bookworm"
  run "echo about to fail && exit 3" {}
}
