#!/bin/sh
# Used by the hand-written Dockerfile: migrations at start-up, then the command.
set -e
if [ "${SKIP_MIGRATIONS:-}" != "1" ]; then
  python manage.py migrate --noinput
fi
exec "$@"
