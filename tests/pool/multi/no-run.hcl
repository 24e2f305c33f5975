# syntax=leaven:dev
# The same for machines whose kernel refuses emulation: no step runs on the
# foreign platform, so the image is only files.

image "multi" {
  from = "scratch"
  copy {
    source = "note.txt"
    dest   = "/note.txt"
  }
}
