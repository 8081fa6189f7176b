"""Read replicas: the reads of GET requests go to the ``replica`` database when one is configured.

Set ``DATABASE_REPLICA_URL`` (see settings.py and docs/scaling.md) and the pages, the API lists and
details and the metrics read from the replica, while:

- every write goes to the primary, and once a request has written (a session touched, a token's
  last use recorded, a get_or_create) the rest of that request reads the primary too, so it
  reads what it wrote;
- a read inside a transaction on the primary stays on the primary;
- identity reads (sessions, users, memberships, organizations, API tokens, idempotency keys)
  always use the primary, so a login, a revocation or a new token takes effect at once whatever
  the replica's lag;
- the admin, and every POST, PUT, PATCH and DELETE, use the primary only.

Without a ``replica`` alias the router answers "no opinion" and everything uses ``default``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import connections
from django.db.models import Model
from django.http import HttpRequest, HttpResponse

PRIMARY = "default"
REPLICA = "replica"
# Apps whose rows decide who may do what: read where they are written.
PRIMARY_ONLY_APPS = frozenset({"admin", "auth", "contenttypes", "sessions", "releasetracker"})
# The database cache's table (rate-limit counters): read and written on the primary, and its
# writes, made by nearly every request, do not pin the rest of the request to the primary.
CACHE_APP = "django_cache"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_replica_reads: ContextVar[bool] = ContextVar("releasetracker_replica_reads", default=False)
_pinned_to_primary: ContextVar[bool] = ContextVar("releasetracker_pinned_to_primary", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


@contextmanager
def replica_reads() -> Iterator[None]:
    """Within this block, reads may use the replica until the first write."""
    reads = _replica_reads.set(True)
    pinned = _pinned_to_primary.set(False)
    try:
        yield
    finally:
        _pinned_to_primary.reset(pinned)
        _replica_reads.reset(reads)


def read_database(model: type[Model] | None = None) -> str:
    """The alias a read would use now: for raw SQL (``connections[read_database()].cursor()``)."""
    if not _replica_reads.get() or _pinned_to_primary.get() or not replica_configured():
        return PRIMARY
    if model is not None and model._meta.app_label in PRIMARY_ONLY_APPS:
        return PRIMARY
    if connections[PRIMARY].in_atomic_block:
        return PRIMARY
    return REPLICA


class PrimaryReplicaRouter:
    """Django database router: see the module docstring."""

    def db_for_read(self, model: type[Model], **hints) -> str | None:
        if not _replica_reads.get():
            return None
        if model._meta.app_label == CACHE_APP:
            return PRIMARY
        return read_database(model)

    def db_for_write(self, model: type[Model], **hints) -> str:
        if _replica_reads.get() and model._meta.app_label != CACHE_APP:
            # Read-after-write: from here on this request reads the primary.
            _pinned_to_primary.set(True)
        return PRIMARY

    def allow_relation(self, obj1: Model, obj2: Model, **hints) -> bool | None:
        # The replica is a copy of the primary: rows from either may be related.
        if {obj1._state.db, obj2._state.db} <= {PRIMARY, REPLICA}:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints) -> bool | None:
        # The replica receives the primary's schema through replication, never through migrate.
        if db == REPLICA:
            return False
        return None


class ReplicaReadsMiddleware:
    """Lets the reads of GET, HEAD and OPTIONS requests (outside the admin) use the replica."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in SAFE_METHODS and not request.path.startswith("/admin/"):
            with replica_reads():
                return self.get_response(request)
        return self.get_response(request)
