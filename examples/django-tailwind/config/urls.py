from django.conf import settings
from django.urls import path, re_path

from pages import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
]

if settings.DEBUG:
    from django.contrib.staticfiles.views import serve as serve_found
    from django.http import Http404
    from django.views.static import serve as serve_collected

    def static_file(request, path):
        """In development (runserver --nostatic): the app's static files as
        edited in the tree, else what the image built and collected (the
        Tailwind CSS exists only there)."""
        try:
            return serve_found(request, path)
        except Http404:
            return serve_collected(request, path, document_root=settings.STATIC_ROOT)

    urlpatterns.append(re_path(r"^static/(?P<path>.*)$", static_file))
