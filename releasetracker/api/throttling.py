"""Rate limits: per API token, and per client IP for requests that carry no valid credential.

Counters live in the cache named by ``settings.RATE_LIMIT_CACHE``: by default a table in the
database (``releasetracker.cache``), one store for every gunicorn worker and server, so the
limit holds across all of them (``locmem://`` counts per process).

The limit is a sliding window estimated from two fixed-window counters (this window's count
plus the previous window's, weighted by how much of it still overlaps the sliding window).
DRF's own throttle keeps a list of every request's time in the window and rewrites it on each
request, so its work grows with the rate allowed and concurrent requests can overwrite each
other's lists; two counters cost the same at any rate, and ``incr`` is atomic in Redis.
"""

import contextlib
import time

from django.conf import settings
from django.core.cache import caches
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from releasetracker.api.authentication import request_token, token_from_header
from releasetracker.models import ApiToken
from releasetracker.services import TokenRejected, token_hash


class SlidingWindowThrottle(SimpleRateThrottle):
    """``num_requests`` per ``duration`` seconds, counted in the cache named by ``RATE_LIMIT_CACHE``."""

    @property
    def cache(self):
        return caches[getattr(settings, "RATE_LIMIT_CACHE", "default")]

    def get_rate(self) -> str | None:
        # DRF binds the rates when the class is defined; read them at each request so a
        # settings change (and the tests' override) takes effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        cache = self.cache
        now = time.time()
        window = int(now // self.duration)
        self._into_window = now - window * self.duration
        self._previous = cache.get(f"{key}:{window - 1}", 0)
        # Counted first with an atomic ``incr``, so concurrent requests each see their own count;
        # a refused request is taken off again below, so only the requests let through count.
        current_key = f"{key}:{window}"
        try:
            counted = cache.incr(current_key)
        except ValueError:  # the window's first request
            # Kept for two windows: the next window still weighs this one.
            counted = 1 if cache.add(current_key, 1, 2 * self.duration) else cache.incr(current_key)
        self._current = counted - 1  # the count before this request
        if self._estimate(self._into_window) >= self.num_requests:
            with contextlib.suppress(ValueError):  # expired meanwhile: nothing left to take off
                cache.decr(current_key)
            return False
        return True

    def _estimate(self, into_window: float) -> float:
        overlap = max(0.0, (self.duration - into_window) / self.duration)
        return self._previous * overlap + self._current

    def wait(self) -> float:
        """Seconds until the estimate is under the limit again (at least 1).

        The estimate only reaches the limit exactly at the instant computed here, and a request
        at the limit is refused, so the answer is a moment later (DRF rounds it up to seconds).
        """
        remaining = self.duration - self._into_window
        if self._current >= self.num_requests:
            # In the next window this one is "previous": wait until its weight has decayed enough.
            at_limit = remaining + self.duration * (1 - self.num_requests / self._current)
        else:
            # previous * (duration - into - t) / duration + current == limit, at the latest when
            # this window ends (this window's count then weighs as "previous", less than the limit).
            at_limit = min(
                remaining,
                remaining - (self.num_requests - self._current) * self.duration / self._previous,
            )
        return max(1.0, at_limit + 0.001)


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


class TokenRateThrottle(SlidingWindowThrottle):
    """``DEFAULT_THROTTLE_RATES["token"]`` requests per token (default 1200/min)."""

    scope = "token"

    def get_cache_key(self, request, view) -> str | None:
        key = presented_token_key(request)
        if key is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": key}


def presents_valid_token(request, *, lenient: bool) -> bool:
    """Whether the request's Authorization header holds an active token.

    ``lenient`` reads the header as the vendor APIs do (the token alone, or ``Basic
    base64(token:)``); the native API takes ``Bearer``/``Token`` only, so anything else is no
    credential there.
    """
    if isinstance(getattr(request, "auth", None), ApiToken):
        return True
    try:
        clear = token_from_header(request.META.get("HTTP_AUTHORIZATION", ""), allow_bare=lenient, allow_basic=lenient)
        return clear is not None and request_token(request, clear) is not None
    except TokenRejected:
        return False


class AnonymousIpRateThrottle(SlidingWindowThrottle):
    """``DEFAULT_THROTTLE_RATES["anon"]`` requests per client IP for requests without a valid credential.

    No token, a wrong, revoked or expired one, a malformed header: all count against the
    address. A valid token is held to its own limit instead, and so is a delivery whose view
    vouches for it (``rate_limit_exempt``: a hook delivery with a valid signature). Applied by
    ``RateLimitMiddleware`` before any view authenticates, so a request the API would refuse
    with a 401 is counted (and refused with a 429 once over the limit) all the same.
    """

    scope = "anon"

    def __init__(self, *, lenient: bool = False, exempt=None) -> None:
        super().__init__()
        self.lenient = lenient
        self.exempt = exempt

    def get_cache_key(self, request, view) -> str | None:
        if presents_valid_token(request, lenient=self.lenient):
            return None
        if self.exempt is not None and self.exempt(request):
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def throttle_wait(request, *, vendor: bool, exempt=None) -> float | None:
    """Apply the API's throttles to a plain Django request, before any view runs.

    ``vendor``: both throttles (the vendor views are plain Django views, outside DRF's); else
    the per-IP one only (DRF applies the per-token one in the native API's views, once the
    token is authenticated). ``exempt(request)`` says whether the view vouches for a request
    without a token. Returns None when the request may proceed, else the seconds to wait.
    Every throttle counts the request, as DRF's own check does.
    """
    anonymous = AnonymousIpRateThrottle(lenient=vendor, exempt=exempt)
    throttles = [TokenRateThrottle(), anonymous] if vendor else [anonymous]
    waits = []
    for throttle in throttles:
        if not throttle.allow_request(request, None):
            waits.append(throttle.wait() or 1)
    return max(waits) if waits else None
