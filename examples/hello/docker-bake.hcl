# `leaven bake` (or `docker buildx bake`) in this directory builds the spec.
variable "HOST_UID" {
  default = "1000"
}

target "default" {
  dockerfile = "app.hcl"
  args = {
    HOST_UID = HOST_UID
  }
  tags = ["leaven-demo/hello"]
}
