"""A test-only URLconf: the real routes plus views that fail, to provoke genuine 500s.

Used with ``@pytest.mark.urls("tests.reliability.urls_boom")``; production URLs never include it.
"""

import logging

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework.views import APIView

SECRET_DETAIL = "boom: db password is hunter2"  # must never reach a response body

log = logging.getLogger("tests.boom")


def boom(request: HttpRequest) -> HttpResponse:
    log.warning("about to fail while handling %s", request.path)
    raise RuntimeError(SECRET_DETAIL)


def not_found(request: HttpRequest) -> HttpResponse:
    raise Http404("no such thing")


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def suspicious(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation("odd")


class BoomApiView(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    def get(self, request):
        log.warning("about to fail in the API")
        raise RuntimeError(SECRET_DETAIL)


urlpatterns = [
    path("api/v1/__boom__/", BoomApiView.as_view()),
    path("v1/signals/__boom__", boom),
    path("compat/multitudes/__boom__", boom),
    path("__boom__/", boom),
    path("__404__/", not_found),
    path("__403__/", forbidden),
    path("__400__/", suspicious),
    path("", include("releasetracker.urls")),
]
