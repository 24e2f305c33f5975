# syntax=leaven:dev
# Built on the app target's result: "app" is the named context bake links to it.

image "extra" {
  from = "app"
  run "cat /app/hello.txt > /tmp/extra.txt && id -un >> /tmp/extra.txt" {}
  cmd = ["cat", "/tmp/extra.txt"]
}
