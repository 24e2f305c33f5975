#!/usr/bin/env python3
"""A stand-in for Django's manage.py: migrate, check and serve."""
import os
import sys

MARKER = "/tmp/migrated"


def main(argv):
    command = argv[1] if len(argv) > 1 else "help"
    if command == "migrate":
        with open(MARKER, "w") as marker:
            marker.write("yes\n")
        print("migrations applied")
    elif command == "check":
        print("System check identified no issues (0 silenced).")
    elif command == "serve":
        from webapp import views

        print("migrated" if os.path.exists(MARKER) else "NOT migrated")
        print(views.index())
    else:
        print("usage: manage.py migrate|check|serve")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
