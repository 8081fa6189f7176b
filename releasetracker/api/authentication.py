"""Token authentication: the native API's, and the vendor APIs' (which word their refusals their own way)."""

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


def token_from_header(header: str, *, allow_bare: bool = False) -> str | None:
    """The token in an Authorization header, or None when there is none.

    ``allow_bare`` accepts a header that is the token alone, as Multitudes' clients send it.
    """
    parts = header.strip().split()
    if not parts:
        return None
    if len(parts) == 2 and parts[0].lower() in KEYWORDS:
        return parts[1]
    if allow_bare and len(parts) == 1:
        return parts[0]
    raise TokenRejected("Authorization header must be 'Bearer <token>'")


def authenticate_request(request, *, allow_bare: bool = False) -> ApiToken | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    clear = token_from_header(header, allow_bare=allow_bare)
    if clear is None:
        return None
    return token_authenticate(clear)


class ApiTokenAuthentication(authentication.BaseAuthentication):
    # Also the token alone, with no scheme word (Multitudes' clients send it so).
    allow_bare = False
    # The API's word for its credential, in refusals ("token"; Echoes and Multitudes say "API key").
    credential_name = "token"

    def authenticate(self, request):
        try:
            token = authenticate_request(request, allow_bare=self.allow_bare)
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
