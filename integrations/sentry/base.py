"""What Sentry supplies to the vendor base: its credentials, its error shape, its pages.

Sentry answers errors as ``{"detail": "..."}``, which ``sentry-cli`` prints, in Sentry's own
words for 401, 403 and 404 (scripts match on them). A URL naming an organization other than the
token's is a 403 (DESIGN.md), checked once for every organization route in ``initial()``.
"""

from urllib.parse import urlencode

from django.http import JsonResponse
from django.utils.encoding import escape_uri_path
from rest_framework import exceptions
from rest_framework.pagination import BasePagination
from rest_framework.throttling import BaseThrottle

from integrations.base import Refusal, VendorAPIView, invalid
from releasetracker.api.authentication import ApiTokenAuthentication, RequiredTokenAuthentication
from releasetracker.services import TokenRejected

NOT_FOUND = "The requested resource does not exist"
FORBIDDEN = "You do not have permission to perform this action."
NOT_AUTHENTICATED = "Authentication credentials were not provided."
WORDING = {403: FORBIDDEN, 404: NOT_FOUND}
# Our service field names in Sentry's words. The deploy times keep ours: the service's "finished_at:
# must not be before started_at" has no single Sentry field to name.
FIELD_NAMES = {"date_released": "dateReleased", "title": "name"}


class SentryCredentials:
    """Bearer or Token like the other APIs, and ``Basic base64(key:)``: the API-key form of
    Sentry's doc and of ``sentry-cli --api-key``. Refusals read as Sentry's, capitalized."""

    allow_basic = True

    def rejected(self, exc: TokenRejected) -> exceptions.APIException:
        message = str(exc)
        return exceptions.AuthenticationFailed(message[:1].upper() + message[1:])


class SentryAuthentication(SentryCredentials, RequiredTokenAuthentication):
    def missing(self) -> exceptions.APIException:
        return exceptions.NotAuthenticated(NOT_AUTHENTICATED)


class OptionalSentryAuthentication(SentryCredentials, ApiTokenAuthentication):
    """For ``GET /api/0/``, which Sentry answers without a token too."""


def respond(data, status: int = 200, headers: dict | None = None) -> JsonResponse:
    # Lists are bare JSON arrays in Sentry's API (``safe=False`` allows them).
    return JsonResponse(data, status=status, safe=False, headers=headers, json_dumps_params={"ensure_ascii": False})


class SentryView(VendorAPIView):
    authentication_classes = [SentryAuthentication]
    field_names = FIELD_NAMES

    def render_error(self, refusal: Refusal) -> JsonResponse:
        if refusal.status in WORDING:
            detail = WORDING[refusal.status]
        elif refusal.status == 405:
            detail = f'Method "{self.request.method}" not allowed.'
        elif refusal.status == 400 and refusal.field == "body":
            detail = f"Malformed request body: {refusal.message}"
        else:
            detail = str(refusal)
        return respond({"detail": detail}, status=refusal.status, headers=refusal.headers)

    def initial(self, request, *args, **kwargs) -> None:
        # A method the route does not serve is a 405 before any credential is read (DRF would
        # authenticate first): this API has always answered so, with or without a token.
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise exceptions.MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    @property
    def created_by(self) -> str:
        return f"sentry-cli token {self.token.name} ({self.token.prefix})"

    @property
    def client(self) -> str:
        """Who is calling, as far as a pipeline's calls go: the token and the client's address (the
        rate limits' address: REMOTE_ADDR, or what the trusted proxies put in X-Forwarded-For)."""
        return f"{self.token.pk}:{BaseThrottle().get_ident(self.request)}"

    def body(self) -> dict:
        # Sentry's clients send no body on some writes (``releases finalize`` with no option).
        return {} if self.request.stream is None else self.request.data


class OrganizationView(SentryView):
    """A route under ``organizations/<org_slug>/`` or ``projects/<org_slug>/<project_slug>/``."""

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        # The URL names an organization; a token only ever acts on its own (DESIGN.md).
        if kwargs["org_slug"] != self.organization.slug:
            raise exceptions.PermissionDenied()

    def page(self, queryset, render) -> JsonResponse:
        """One page of ``queryset``, rendered by ``render`` (rows -> list), in Sentry's pages."""
        paginator = LinkHeaderPagination()
        rows = paginator.paginate_queryset(queryset, self.request, self)
        return paginator.get_paginated_response(render(rows))


class InvalidCursor(exceptions.APIException):
    status_code = 400
    default_detail = "Invalid cursor parameter."


class LinkHeaderPagination(BasePagination):
    """Sentry's pages: cursors ``<value>:<offset>:<is_prev>`` (ours carry the row offset in the
    middle) and a ``Link`` header, which ``sentry-cli`` follows while ``results="true"``."""

    max_per_page = 100

    def paginate_queryset(self, queryset, request, view=None) -> list:
        self.request = request
        self.offset, self.per_page = self._offset(request), self._per_page(request)
        rows = list(queryset[self.offset : self.offset + self.per_page + 1])
        self.has_next = len(rows) > self.per_page
        return rows[: self.per_page]

    def get_paginated_response(self, data) -> JsonResponse:
        base = self.request.build_absolute_uri(escape_uri_path(self.request.path))
        params = {k: v for k, v in self.request.query_params.items() if k != "cursor"}

        def link(cursor: str, rel: str, results: bool) -> str:
            query = urlencode({**params, "cursor": cursor})
            return f'<{base}?{query}>; rel="{rel}"; results="{str(results).lower()}"; cursor="{cursor}"'

        previous = link(f"0:{max(self.offset - self.per_page, 0)}:1", "previous", self.offset > 0)
        following = link(f"0:{self.offset + self.per_page}:0", "next", self.has_next)
        return respond(data, headers={"Link": f"{previous}, {following}"})

    def _offset(self, request) -> int:
        raw = request.query_params.get("cursor", "")
        if not raw:
            return 0
        parts = raw.split(":")
        if len(parts) != 3 or not all(p.lstrip("-").isdigit() for p in parts) or int(parts[1]) < 0:
            raise InvalidCursor()
        return int(parts[1])

    def _per_page(self, request) -> int:
        raw = request.query_params.get("per_page", "")
        if not raw:
            return self.max_per_page
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_per_page:
            raise invalid("per_page", f"must be a whole number from 1 to {self.max_per_page}")
        return int(raw)
