# Builds the hello example through the leaven frontend with `docker buildx bake`.
variable "HOST_UID" {
  default = "1000"
}

variable "TAG" {
  default = "leaven-e2e/bake:latest"
}

group "default" {
  targets = ["hello"]
}

target "hello" {
  # Relative to where bake runs: the repository root.
  context    = "examples/hello"
  dockerfile = "app.hcl"
  args = {
    HOST_UID = HOST_UID
  }
  tags   = [TAG]
  output = ["type=docker"]
}
