import os

import vendored


def index():
    static = os.path.join(os.path.dirname(os.path.dirname(__file__)), "static", "app.css")
    css = "static ok" if os.path.exists(static) else "static MISSING"
    return "<h1>webapp</h1> deps=%s %s" % (",".join(vendored.PINNED), css)
