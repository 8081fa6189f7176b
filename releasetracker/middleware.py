"""Request ids, access logs, generic 500s, the request body limit and the Content-Security-Policy.

Order in ``MIDDLEWARE``: ``RequestIdMiddleware`` first (so every response, even a redirect or a
413, carries ``X-Request-ID`` and every later log line names it), then ``BodySizeLimitMiddleware``
(before anything reads the body), then Django's own, then ``ContentSecurityPolicyMiddleware``.
"""

import io
import logging
import math
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.exceptions import BadRequest, PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.handlers.wsgi import LimitedStream
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.template import loader
from django.urls import Resolver404, resolve
from rest_framework.exceptions import Throttled, ValidationError

from releasetracker.logging import request_id_var

access_log = logging.getLogger("releasetracker.access")
# Django's own logger for unhandled exceptions, so handlers configured for it (admin mails,
# error trackers) still see every 500.
error_log = logging.getLogger("django.request")

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is kept only when it cannot smuggle anything into a log line or a header.
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
# Paths that speak JSON: the native API, the vendor-compatible APIs, webhooks, probes, metrics.
JSON_PATH_PREFIXES = ("/api/", "/v1/", "/compat/", "/hooks/", "/healthz", "/livez", "/readyz", "/metrics")


# Exceptions that mean "the client asked for something wrong", not "the server failed".
CLIENT_ERRORS = (Http404, PermissionDenied, BadRequest, SuspiciousOperation, MultiPartParserError)


def wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(JSON_PATH_PREFIXES)


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Give every request an id, log one access line per request, and turn every 500 into a generic answer.

    The 500 answer never shows a stack trace (that goes to the log, under the same id): JSON
    ``{"error": "internal error", "code": "server_error", "request_id": ...}`` on API paths, the
    ``500.html`` page with the id elsewhere (Django's debug page for pages when DEBUG is on).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if VALID_REQUEST_ID.match(incoming) else new_request_id()
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            # A 500 built outside any view (an exception in another middleware, answered by
            # Django's handler500) gets the same generic answer; pages keep the debug page in DEBUG.
            generic = getattr(response, "_generic_500", False)
            debug_page = settings.DEBUG and not wants_json(request)
            if response.status_code == 500 and not generic and not debug_page:
                response = server_error_response(request)
            response[REQUEST_ID_HEADER] = request_id
            if access_log.isEnabledFor(logging.INFO):  # LOG_LEVEL=WARNING turns the line off
                access_log.info(
                    "%s %s %s",
                    request.method,
                    request.path,
                    response.status_code,
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "status": response.status_code,
                        "duration_ms": round((time.monotonic() - started) * 1000, 1),
                        "remote_addr": request.META.get("REMOTE_ADDR", ""),
                    },
                )
            # Django would log 4xx/5xx again on its way out, after this request's id is gone;
            # the access line above (and the error logged with its traceback) already say it.
            response._has_been_logged = True
            return response
        finally:
            request_id_var.reset(token)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, CLIENT_ERRORS):
            return None  # Django answers these itself with their 4xx (404.html, 403.html, 400)
        error_log.error(
            "Internal Server Error: %s",
            request.path,
            exc_info=(type(exception), exception, exception.__traceback__),
            extra={"status_code": 500},
        )
        if settings.DEBUG and not wants_json(request):
            return None  # the developer's debug page
        if isinstance(exception, (OperationalError, InterfaceError)):
            return database_unavailable_response(request)
        return server_error_response(request)


def server_error_response(request: HttpRequest) -> HttpResponse:
    request_id = getattr(request, "request_id", None) or request_id_var.get() or new_request_id()
    if wants_json(request):
        response: HttpResponse = JsonResponse(
            {"error": "internal error", "code": "server_error", "request_id": request_id}, status=500
        )
    else:
        try:
            body = loader.render_to_string("500.html", {"request_id": request_id})
        except Exception:  # the error page itself must not fail
            body = f"<!doctype html><title>Server error</title><p>Server error. Request id: {request_id}</p>"
        response = HttpResponse(body, status=500, content_type="text/html; charset=utf-8")
    response._generic_500 = True
    return response


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    """503 for a database that cannot be reached (restart, failover): the client may retry."""
    request_id = getattr(request, "request_id", None) or request_id_var.get() or new_request_id()
    if wants_json(request):
        response: HttpResponse = JsonResponse(
            {
                "error": "service unavailable: the database is not answering; retry later",
                "code": "service_unavailable",
                "request_id": request_id,
            },
            status=503,
        )
    else:
        response = server_error_response(request)
        response.status_code = 503
    response["Retry-After"] = "5"
    return response


def vendor_refusal(request: HttpRequest, exc: Exception) -> HttpResponse | None:
    """The answer to ``exc``, in its vendor's error shape, for a request to a vendor's path
    refused before any view ran; None for any other path (the native shape applies).

    Every vendor's URL configuration ends in a catch-all route (``integrations.base``), so the
    resolver names the vendor view that owns any path under its prefix; a view that offers
    ``refuse_early`` renders the refusal as it renders its own. The core asks the view, never
    the integrations package, so the dependencies keep pointing one way.
    """
    try:
        match = resolve(request.path_info, getattr(request, "urlconf", None))
    except Resolver404:
        return None
    refuse = getattr(getattr(match.func, "view_class", None), "refuse_early", None)
    if refuse is None:
        return None
    return refuse(request, exc, **getattr(match.func, "view_initkwargs", {}))


def payload_too_large(request: HttpRequest, limit: int) -> HttpResponse:
    vendor = vendor_refusal(request, RequestDataTooBig(f"request body exceeds {limit} bytes"))
    if vendor is not None:
        return vendor
    return JsonResponse(
        {"error": f"body: request body exceeds {limit} bytes", "code": "payload_too_large"},
        status=413,
    )


class BodySizeLimitMiddleware:
    """Refuse bodies over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` before any view reads them.

    DRF parses JSON from the stream itself, so Django's own limit (which guards ``request.body``
    and form parsing) does not protect the API. A declared Content-Length over the limit is
    answered 413 without reading a byte. A chunked body (no Content-Length) is read up to the
    limit plus one byte when the server has decoded the chunks (gunicorn sets
    ``wsgi.input_terminated``): over the limit is a 413, otherwise the view sees the bytes read.
    A server that cannot tell where a chunked body ends gets a 411.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is None:
            return self.get_response(request)
        raw_length = request.META.get("CONTENT_LENGTH") or ""
        if raw_length.strip():
            try:
                length = int(raw_length)
            except ValueError:
                return JsonResponse(
                    {"error": "Content-Length: must be a whole number of bytes", "code": "malformed_request"},
                    status=400,
                )
            if length > limit:
                return payload_too_large(request, limit)
        elif "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            if not request.META.get("wsgi.input_terminated"):
                return JsonResponse(
                    {"error": "body: send a Content-Length header", "code": "length_required"}, status=411
                )
            body = request.META["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return payload_too_large(request, limit)
            # Hand the bytes read to Django as an ordinary body of known length.
            request.META["CONTENT_LENGTH"] = str(len(body))
            request._stream = LimitedStream(io.BytesIO(body), len(body))
        return self.get_response(request)


# Every path of an API: the native one (/api/v1/) and the vendor-compatible ones.
API_PATH_PREFIXES = ("/api/", "/v1/", "/compat/", "/hooks/")


NUL_MESSAGE = "must not contain NUL characters"


def nul_in_url(request: HttpRequest) -> str | None:
    """Where the URL carries a NUL character once decoded: ``path``, the query parameter's name,
    or None when it carries none."""
    if "\x00" in request.path_info:
        return "path"
    query = request.META.get("QUERY_STRING", "")
    if "%00" not in query and "\x00" not in query:
        return None
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return name.replace("\x00", "") or "query"
    return None


class NulRefusalMiddleware:
    """Refuse a NUL character anywhere in the decoded URL (path or query) with a 400, on every route.

    PostgreSQL cannot store or compare text holding NUL: a lookup by a version, a project or a
    filter value carrying ``%00`` would raise inside the database driver (a 500). No name,
    version or filter value of ours can contain one, so refusing it here, once, spares every
    view and lookup. Vendor paths answer in their vendor's shape, pages with the 400 page.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        field = nul_in_url(request)
        if field is None:
            return self.get_response(request)
        vendor = vendor_refusal(request, ValidationError({field: [NUL_MESSAGE]}))
        if vendor is not None:
            return vendor
        if wants_json(request):
            return JsonResponse(
                {"error": f"{field}: {NUL_MESSAGE}", "code": "validation_error", "fields": {field: [NUL_MESSAGE]}},
                status=400,
            )
        raise BadRequest(f"{field}: {NUL_MESSAGE}")


# The vendor-compatible endpoints are plain Django views, outside DRF's throttling.
VENDOR_PATH_PREFIXES = ("/v1/signals/", "/api/releases/", "/api/0/", "/compat/", "/hooks/")


def rate_limit_exempt(request: HttpRequest) -> bool:
    """Whether the view the path resolves to vouches for a request that has no token, asked only of
    a request the per-IP limit would count. The signed hooks' ``rate_limit_exempt`` (GitHub,
    PagerDuty, Opsgenie, the generic incident hook) says yes for a delivery whose signature or
    secret is right for the organization in the URL; the core asks the view, never the integrations."""
    try:
        match = resolve(request.path_info, getattr(request, "urlconf", None))
    except Resolver404:
        return False
    exempt = getattr(getattr(match.func, "view_class", None), "rate_limit_exempt", None)
    return exempt is not None and exempt(request, **match.kwargs)


class RateLimitMiddleware:
    """The per-IP limit on every API path, and the per-token limit on the vendor paths, before any view.

    The per-IP limit counts every request without a valid token (none, a wrong one, Basic on the
    native API), so it runs here, ahead of the authentication and permission checks that would
    answer such a request with a 401 first. The native API's per-token limit stays in DRF, where
    the token is authenticated. Refusals are 429 with ``Retry-After``, in each vendor's error
    shape on its paths (``vendor_refusal``).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PATH_PREFIXES):
            from releasetracker.api.throttling import throttle_wait  # imports models: not at module load

            vendor = request.path.startswith(VENDOR_PATH_PREFIXES)
            try:
                wait = throttle_wait(request, vendor=vendor, exempt=rate_limit_exempt)
            except (OperationalError, InterfaceError):  # the counters live in the database by default
                return database_unavailable_response(request)
            if wait is not None:
                seconds = max(1, math.ceil(wait))
                exc = Throttled(wait=seconds)
                response = vendor_refusal(request, exc) or JsonResponse(
                    {"error": str(exc.detail), "code": "throttled"}, status=429
                )
                response["Retry-After"] = str(seconds)
                return response
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    """Set ``settings.CONTENT_SECURITY_POLICY`` on HTML responses that do not set their own.

    Paths listed in ``settings.CONTENT_SECURITY_POLICY_OVERRIDES`` (a prefix -> policy dict) get
    their own policy: Swagger UI's page carries an inline bootstrap script and style.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", "")
        if not policy or "Content-Security-Policy" in response:
            return response
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        for prefix, override in getattr(settings, "CONTENT_SECURITY_POLICY_OVERRIDES", {}).items():
            if request.path.startswith(prefix):
                policy = override
                break
        response["Content-Security-Policy"] = policy
        return response


class PagesOnlyMixin:
    """Run a middleware for the pages and the admin only; the JSON paths (``wants_json``) skip it.

    The JSON paths authenticate every request by its token (or a signature) and never by a
    cookie: they neither read nor write a session or a flash message, and Django's
    ``request.user`` is never asked for there. (CSRF keeps Django's own middleware: every JSON
    view is exempt, and ``check --deploy`` looks for it by name.)
    """

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if wants_json(request):
            return self.get_response(request)
        return super().__call__(request)


class PageSessionMiddleware(PagesOnlyMixin, SessionMiddleware):
    """Django's sessions, for the pages and the admin."""


class PageAuthenticationMiddleware(PagesOnlyMixin, AuthenticationMiddleware):
    """Django's ``request.user`` from the session, for the pages and the admin."""


class PageMessagesMiddleware(PagesOnlyMixin, MessageMiddleware):
    """Django's flash messages, for the pages and the admin."""
