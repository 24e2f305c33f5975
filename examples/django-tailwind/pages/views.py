import os
import socket

from django.db import connection
from django.http import HttpResponse
from django.shortcuts import render


def home(request):
    return render(request, "pages/home.html")


def healthz(request):
    """200 when the database answers and the services the app was given are reachable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    for variable, port in (("DATABASE_HOST", 5432), ("REDIS_HOST", 6379)):
        host = os.environ.get(variable)
        if host:
            try:
                socket.create_connection((host, port), timeout=2).close()
            except OSError as error:
                return HttpResponse(f"{variable} {host}:{port}: {error}\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")
