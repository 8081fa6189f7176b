"""Rate limits: per API token, and per client IP for requests that carry no credential.

Counters live in the cache named by ``settings.RATE_LIMIT_CACHE``. Local memory (the default)
counts per process; a deployment with several processes or servers points ``CACHE_URL`` at a
shared cache (``db://rt_cache`` or Redis) so the limit holds across all of them.
"""

from django.conf import settings
from django.core.cache import caches
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from releasetracker.api.authentication import token_from_header
from releasetracker.models import ApiToken
from releasetracker.services import TokenRejected, token_hash

# Webhook deliveries authenticate with a signature, not an Authorization header.
CREDENTIAL_HEADERS = ("HTTP_AUTHORIZATION", "HTTP_X_HUB_SIGNATURE_256")


class _CacheFromSettings:
    @property
    def cache(self):
        return caches[getattr(settings, "RATE_LIMIT_CACHE", "default")]

    def get_rate(self) -> str | None:
        # DRF binds the rates when the class is defined; read them at each request so a
        # settings change (and the tests' override) takes effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


def presented_token_key(request) -> str | None:
    """A stable key for the token a request presents, authenticated or not yet.

    The native API has authenticated the token by the time throttles run; a vendor view may
    authenticate inside the view. Keying by the token's hash puts both in one bucket per token
    (the hash is what the database already stores, never the clear token).
    """
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiToken):
        return auth.token_hash[:32]
    try:
        clear = token_from_header(request.META.get("HTTP_AUTHORIZATION", ""), allow_bare=True)
    except TokenRejected:
        return None
    return token_hash(clear)[:32] if clear else None


class TokenRateThrottle(_CacheFromSettings, SimpleRateThrottle):
    """``DEFAULT_THROTTLE_RATES["token"]`` requests per token (default 1200/min)."""

    scope = "token"

    def get_cache_key(self, request, view) -> str | None:
        key = presented_token_key(request)
        if key is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": key}


class AnonymousIpRateThrottle(_CacheFromSettings, SimpleRateThrottle):
    """``DEFAULT_THROTTLE_RATES["anon"]`` requests per client IP for requests with no credential at all."""

    scope = "anon"

    def get_cache_key(self, request, view) -> str | None:
        if isinstance(getattr(request, "auth", None), ApiToken):
            return None
        if any(request.META.get(header) for header in CREDENTIAL_HEADERS):
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def throttle_wait(request) -> float | None:
    """Apply the API's throttles to a plain Django request (the vendor-compatible endpoints).

    Returns None when the request may proceed, else the seconds to wait. Every throttle counts
    the request, as DRF's own check does.
    """
    waits = []
    for throttle_class in (TokenRateThrottle, AnonymousIpRateThrottle):
        throttle = throttle_class()
        if not throttle.allow_request(request, None):
            waits.append(throttle.wait() or 1)
    return max(waits) if waits else None
