"""Request plumbing of the Sentry adapter: auth, scopes, the organization check, bodies, errors, pages.

Sentry answers errors as ``{"detail": "..."}`` (``sentry-cli`` prints the detail), so this
adapter does not use the native API's exception handler.
"""

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from urllib.parse import urlencode

from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils.dateparse import parse_datetime
from django.utils.encoding import escape_uri_path
from django.views.decorators.csrf import csrf_exempt

from releasetracker.api.authentication import authenticate_request
from releasetracker.errors import DomainError
from releasetracker.models import ApiToken, Organization
from releasetracker.services import TokenRejected, token_authenticate
from releasetracker.validation import clean_time

# Sentry's own wording, so scripts that match on it keep working.
NOT_FOUND = "The requested resource does not exist"
FORBIDDEN = "You do not have permission to perform this action."
NOT_AUTHENTICATED = "Authentication credentials were not provided."

MAX_PER_PAGE = 100

READ = ApiToken.Scope.READ
WRITE = ApiToken.Scope.WRITE


class SentryError(Exception):
    """An answer other than success, in Sentry's shape."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


def not_found() -> SentryError:
    return SentryError(404, NOT_FOUND)


def bad_request(field: str, message: str) -> SentryError:
    return SentryError(400, f"{field}: {message}")


@dataclass
class Call:
    """What a view needs once the request is authenticated and its body parsed."""

    request: HttpRequest
    token: ApiToken
    organization: Organization
    body: dict

    @property
    def created_by(self) -> str:
        return f"sentry-cli token {self.token.name} ({self.token.prefix})"


def respond(data, status: int = 200, headers: dict | None = None) -> JsonResponse:
    # Lists are bare JSON arrays in Sentry's API (``safe=False`` allows them).
    return JsonResponse(data, status=status, safe=False, headers=headers, json_dumps_params={"ensure_ascii": False})


def _error(status: int, detail: str) -> JsonResponse:
    return respond({"detail": detail}, status=status)


def _parse_body(request: HttpRequest) -> dict:
    if request.method not in ("POST", "PUT"):
        return {}
    try:
        raw = request.body
    except RequestDataTooBig:
        raise SentryError(413, "Request body is too large") from None
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SentryError(400, f"Malformed request body: {exc}") from None
    if not isinstance(data, dict):
        raise SentryError(400, "Malformed request body: expected a JSON object")
    return data


def _basic_key(credentials: str) -> str:
    """The key of ``Basic base64(key:)``: Sentry's API-key auth, used by its doc's example and ``--api-key``."""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise TokenRejected("malformed Basic credentials") from None
    key = decoded.split(":", 1)[0]
    if not key:
        raise TokenRejected("malformed Basic credentials")
    return key


def authenticate(request: HttpRequest) -> ApiToken | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    try:
        if header[:6].lower() == "basic ":
            return token_authenticate(_basic_key(header[6:]))
        return authenticate_request(request)
    except TokenRejected as exc:
        message = str(exc)
        raise SentryError(401, message[:1].upper() + message[1:]) from None


def sentry_endpoint(scopes: dict[str, str]) -> Callable:
    """Wrap a view taking ``(call, **url_kwargs)``; ``scopes`` maps each allowed method to its scope.

    Writes run in one transaction, so a request refused half-way stores nothing.
    """

    def decorate(view: Callable) -> Callable:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *, org_slug: str, **kwargs):
            scope = scopes.get(request.method or "")
            if scope is None:
                return _error(405, f'Method "{request.method}" not allowed.')
            try:
                token = authenticate(request)
                if token is None:
                    raise SentryError(401, NOT_AUTHENTICATED)
                # The URL names an organization; a token only ever acts on its own (DESIGN.md).
                if org_slug != token.organization.slug or not token.has_scope(scope):
                    raise SentryError(403, FORBIDDEN)
                call = Call(request=request, token=token, organization=token.organization, body=_parse_body(request))
                if scope == WRITE:
                    with transaction.atomic():
                        return view(call, **kwargs)
                return view(call, **kwargs)
            except SentryError as exc:
                return _error(exc.status, exc.detail)
            except DomainError as exc:
                return _error(exc.status, str(exc))

        return wrapper

    return decorate


# Input ---------------------------------------------------------------------------------------


def get_time(body: dict, key: str, *, field: str | None = None) -> datetime | None:
    """An ISO 8601 date-time (``sentry-cli`` sends nanoseconds and ``Z``), checked under Sentry's field name."""
    field = field or key
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise bad_request(field, "must be an ISO 8601 date-time string")
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        raise bad_request(field, f"'{value[:80]}' is not an ISO 8601 date-time")
    return clean_time(parsed, field=field)


def get_text(body: dict, key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(key, "must be a string")
    return value


def get_list(body: dict, key: str, *, of: type) -> list | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise bad_request(key, "must be a list")
    for index, item in enumerate(value):
        if not isinstance(item, of):
            kind = "an object" if of is dict else "a string"
            raise bad_request(f"{key}.{index}", f"must be {kind}")
    return value


# Output --------------------------------------------------------------------------------------


def sentry_time(value: datetime | None) -> str | None:
    """UTC with a ``Z``: ``sentry-cli`` refuses dates without an offset."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _cursor_offset(request: HttpRequest) -> int:
    raw = request.GET.get("cursor", "")
    if not raw:
        return 0
    # Sentry's cursors read "<value>:<offset>:<is_prev>"; ours carry the row offset in the middle.
    parts = raw.split(":")
    if len(parts) != 3 or not all(p.lstrip("-").isdigit() for p in parts) or int(parts[1]) < 0:
        raise SentryError(400, "Invalid cursor parameter.")
    return int(parts[1])


def _per_page(request: HttpRequest) -> int:
    raw = request.GET.get("per_page", "")
    if not raw:
        return MAX_PER_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PER_PAGE:
        raise SentryError(400, f"per_page: must be a whole number from 1 to {MAX_PER_PAGE}")
    return int(raw)


def paginate(request: HttpRequest, queryset) -> tuple[list, dict]:
    """One page of ``queryset`` and Sentry's ``Link`` header, which ``sentry-cli`` follows while results="true"."""
    offset, per_page = _cursor_offset(request), _per_page(request)
    rows = list(queryset[offset : offset + per_page + 1])
    has_next = len(rows) > per_page
    rows = rows[:per_page]
    base = request.build_absolute_uri(escape_uri_path(request.path))
    params = {k: v for k, v in request.GET.items() if k != "cursor"}

    def link(cursor: str, rel: str, results: bool) -> str:
        query = urlencode({**params, "cursor": cursor})
        return f'<{base}?{query}>; rel="{rel}"; results="{str(results).lower()}"; cursor="{cursor}"'

    previous = f"0:{max(offset - per_page, 0)}:1"
    following = f"0:{offset + per_page}:0"
    header = ", ".join([link(previous, "previous", offset > 0), link(following, "next", has_next)])
    return rows, {"Link": header}
