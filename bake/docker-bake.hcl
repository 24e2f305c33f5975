# Our own images, for `docker buildx bake -f bake/docker-bake.hcl`.
# `make frontend-image` stages the static binary in target/frontend-image first.

variable "FRONTEND_TAG" {
  default = "leaven:dev"
}

target "frontend" {
  context    = "target/frontend-image"
  dockerfile = "frontend.Dockerfile"
  tags       = [FRONTEND_TAG]
  output     = ["type=docker"]
}
