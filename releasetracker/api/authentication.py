"""Token authentication: the native API's, and the vendor APIs' (which word their refusals their own way)."""

import base64
import binascii
from dataclasses import dataclass

from rest_framework import authentication, exceptions

from releasetracker.models import ApiToken, Organization
from releasetracker.services import TokenRejected, token_authenticate

KEYWORDS = ("bearer", "token")


@dataclass(frozen=True)
class TokenUser:
    """The principal behind an API token: no Django user, just the organization and the token."""

    token: ApiToken

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    @property
    def organization(self) -> Organization:
        return self.token.organization

    @property
    def pk(self) -> str:
        return f"token:{self.token.pk}"

    def __str__(self) -> str:
        return f"token {self.token.prefix}"


def basic_key(credentials: str) -> str:
    """The key of ``Basic base64(key:)``: an API key sent as the user name, with no password."""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise TokenRejected("malformed Basic credentials") from None
    key = decoded.split(":", 1)[0]
    if not key:
        raise TokenRejected("malformed Basic credentials")
    return key


def token_from_header(header: str, *, allow_bare: bool = False, allow_basic: bool = False) -> str | None:
    """The token in an Authorization header, or None when there is none.

    ``allow_bare`` accepts a header that is the token alone, as Multitudes' clients send it;
    ``allow_basic`` the token as ``Basic base64(token:)``, Sentry's API-key form.
    """
    parts = header.strip().split()
    if not parts:
        return None
    if allow_basic and parts[0].lower() == "basic":
        return basic_key(header.strip()[len(parts[0]) :])
    if len(parts) == 2 and parts[0].lower() in KEYWORDS:
        return parts[1]
    if allow_bare and len(parts) == 1:
        return parts[0]
    raise TokenRejected("Authorization header must be 'Bearer <token>'")


def authenticate_request(request, *, allow_bare: bool = False, allow_basic: bool = False) -> ApiToken | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    clear = token_from_header(header, allow_bare=allow_bare, allow_basic=allow_basic)
    if clear is None:
        return None
    return request_token(request, clear)


def request_token(request, clear: str) -> ApiToken:
    """``token_authenticate(clear)``, looked up once per request.

    The rate limiter (``RateLimitMiddleware``) asks whether a request's token is valid before
    the view authenticates it; both get the same answer from one query. ``request`` is Django's
    request or DRF's (whose attributes are read through to Django's).
    """
    django_request = getattr(request, "_request", request)
    lookups = django_request.__dict__.setdefault("_api_token_lookups", {})
    if clear not in lookups:
        try:
            lookups[clear] = token_authenticate(clear)
        except TokenRejected as exc:
            lookups[clear] = exc
    found = lookups[clear]
    if isinstance(found, TokenRejected):
        raise TokenRejected(str(found), reason=found.reason)
    return found


class ApiTokenAuthentication(authentication.BaseAuthentication):
    # Also the token alone, with no scheme word (Multitudes' clients send it so).
    allow_bare = False
    # Also ``Basic base64(token:)`` (Sentry's API-key form).
    allow_basic = False
    # The API's word for its credential, in refusals ("token"; Echoes and Multitudes say "API key").
    credential_name = "token"

    def authenticate(self, request):
        try:
            token = authenticate_request(request, allow_bare=self.allow_bare, allow_basic=self.allow_basic)
        except TokenRejected as exc:
            raise self.rejected(exc) from None
        if token is None:
            return None
        return TokenUser(token), token

    def rejected(self, exc: TokenRejected) -> exceptions.APIException:
        """The refusal of a token that is unknown, revoked or expired, or of a malformed header."""
        return exceptions.AuthenticationFailed(str(exc))

    def authenticate_header(self, request) -> str:
        # A WWW-Authenticate value makes DRF answer 401 rather than 403 for missing credentials.
        return 'Bearer realm="api"'


class RequiredTokenAuthentication(ApiTokenAuthentication):
    """For APIs with nothing public (the vendor-compatible ones): a request without a token is
    refused here, with how to send one in the vendor's own words (``usage``)."""

    usage = "Authorization: Bearer <token>"

    def authenticate(self, request):
        found = super().authenticate(request)
        if found is None:
            raise self.missing()
        return found

    def missing(self) -> exceptions.APIException:
        return exceptions.NotAuthenticated(f"send '{self.usage}'")
