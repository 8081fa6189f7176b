"""Answer the operations endpoints and measure every request.

``OperationsMiddleware`` sits right after ``RequestIdMiddleware``. It answers ``/livez``,
``/readyz`` and ``/metrics`` itself, before Django's host check (``CommonMiddleware``):
orchestrators and Prometheus address a container by its IP, which is not in ``ALLOWED_HOSTS``,
and these answers build no URL from the host. Every other request goes on as before; its
route template, method, status and duration are counted once it is answered.
"""

import re
import time
from collections.abc import Callable
from functools import lru_cache

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers

from operations.probes import livez, readyz
from operations.prometheus import count_database_error, metrics_view, observe_request

ENDPOINTS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/livez": livez,
    "/readyz": readyz,
    "/metrics": metrics_view,
}


@lru_cache(maxsize=1024)
def route_label(route: str) -> str:
    """A route as people write it: DRF's regex routes lose their anchors and name their groups."""
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", route)
    return route.replace("^", "").replace("$", "").replace("\\", "")


class OperationsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        endpoint = ENDPOINTS.get(request.path)
        if endpoint is None:
            response = self.get_response(request)
            match = getattr(request, "resolver_match", None)
            route = route_label(match.route) if match is not None and match.route else "unmatched"
        else:
            route = request.path.lstrip("/")
            if request.method in ("GET", "HEAD"):
                response = endpoint(request)
            else:
                response = JsonResponse(
                    {"error": f"method {request.method} not allowed", "code": "method_not_allowed"}, status=405
                )
                response["Allow"] = "GET, HEAD"
            add_never_cache_headers(response)
        observe_request(
            route=route, method=request.method, status=response.status_code, seconds=time.perf_counter() - started
        )
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        # Counted only: RequestIdMiddleware logs it and answers (503 for a database out of reach).
        if isinstance(exception, DatabaseError):
            count_database_error(exception)
