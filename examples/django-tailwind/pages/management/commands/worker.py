"""A stand-in for a Celery worker (the example installs no Celery): it reaches
Redis as a worker would, says so, then waits for jobs until it is stopped."""
import os
import signal
import socket
import sys
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Wait for jobs, as a queue worker does."

    def handle(self, *args, **options):
        host = os.environ.get("REDIS_HOST")
        if host:
            with socket.create_connection((host, 6379), timeout=5) as conn:
                conn.sendall(b"PING\r\n")
                self.stdout.write(f"worker: redis at {host}:6379 says {conn.recv(64).decode().strip()}")
        self.stdout.write("worker: ready")
        open("/tmp/worker.ready", "w").close()  # what its healthcheck tests
        # As PID 1 it gets no default SIGTERM handling: stop when compose says so.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while True:
            time.sleep(3600)
