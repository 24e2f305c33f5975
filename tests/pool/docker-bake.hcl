# leaven bake over a pool of two engines: tests/pool.rs builds these eight
# independent targets on docker-28 and docker-28c together, then on one engine.

variable "PREFIX" {
  default = "leaven-pool"
}

variable "PAUSE" {
  # Seconds each target's step takes; the node-failure checks make it long.
  default = "0"
}

group "default" {
  targets = ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"]
}

target "t0" {
  context = "app"
  args = {
    N     = "0"
    PAUSE = PAUSE
  }
  tags = ["${PREFIX}/t0:1"]
}

target "t1" {
  context = "app"
  args = {
    N     = "1"
    PAUSE = PAUSE
  }
  tags = ["${PREFIX}/t1:1"]
}

target "t2" {
  context = "app"
  args = {
    N     = "2"
    PAUSE = PAUSE
  }
  tags = ["${PREFIX}/t2:1"]
}

target "t3" {
  context = "app"
  args = {
    N     = "3"
    PAUSE = PAUSE
  }
  tags = ["${PREFIX}/t3:1"]
}

target "t4" {
  context = "app"
  args = {
    N     = "4"
    PAUSE = PAUSE
  }
  tags = ["${PREFIX}/t4:1"]
}

target "t5" {
  context = "app"
  args = {
    N     = "5"
    PAUSE = PAUSE
  }
  tags = ["${PREFIX}/t5:1"]
}

target "t6" {
  context = "app"
  args = {
    N     = "6"
    PAUSE = PAUSE
  }
  tags = ["${PREFIX}/t6:1"]
}

target "t7" {
  context = "app"
  args = {
    N     = "7"
    PAUSE = PAUSE
  }
  tags = ["${PREFIX}/t7:1"]
}

variable "MULTI_SPEC" {
  # app.hcl, or no-run.hcl where the kernel refuses emulation.
  default = "app.hcl"
}

# A spec built for two platforms at once, pushed as one image index.
target "multi" {
  context    = "multi"
  dockerfile = MULTI_SPEC
  platforms  = ["linux/amd64", "linux/arm64"]
  tags       = ["127.0.0.1:25000/${PREFIX}/multi:1"]
  output     = ["type=image,push=true"]
}

# A Dockerfile target for two platforms that tests/pool.rs splits over two
# nodes (each declares one platform), pushed by digest and joined.
target "split" {
  context   = "split"
  platforms = ["linux/amd64", "linux/arm64"]
  tags      = ["127.0.0.1:25000/${PREFIX}/split:1", "127.0.0.1:25000/${PREFIX}/split:latest"]
  output    = ["type=image,push=true"]
}
