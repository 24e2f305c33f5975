#!/usr/bin/env python3
"""A stand-in for a Tailwind build: minify every *.src.css into the output dir."""
import os
import sys

source, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
for name in sorted(os.listdir(source)):
    if name.endswith(".src.css"):
        text = open(os.path.join(source, name)).read()
        lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("/*")]
        with open(os.path.join(out, name.replace(".src", "")), "w") as f:
            f.write("".join(lines) + "\n")
print("built", out)
