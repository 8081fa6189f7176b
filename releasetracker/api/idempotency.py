"""Idempotency-Key support for every POST of the native API.

A retry with the same key and body gets the first response again; the same key with another
body is a 422. Responses are kept per organization, method and path.
"""

import hashlib
import json

from django.db import DatabaseError, IntegrityError, connection, transaction
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from releasetracker.errors import DomainError, Unprocessable
from releasetracker.models import IdempotencyKey, Organization

MAX_KEY_LENGTH = 255


class IdempotentReplay(Exception):
    def __init__(self, response: Response):
        super().__init__("replay")
        self.response = response


def body_fingerprint(raw: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(raw or b"null"), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):
        # Not JSON we can canonicalize (the parser will refuse it): fingerprint the raw bytes.
        canonical = raw
    return hashlib.sha256(canonical).hexdigest()


def idempotency_lock(*, organization: Organization, key: str, method: str, path: str) -> int | None:
    """Make requests that share a key wait for each other, so the first one's answer is the only one.

    Without it, twenty retries sent at once would all find no stored answer and all execute.
    A PostgreSQL session advisory lock is held from before the lookup until the answer is
    stored (``idempotency_unlock``); it is also released if the process or connection dies.
    SQLite has no such lock; it is the single-process development database.
    """
    if connection.vendor != "postgresql":
        return None
    ident = f"{organization.pk}\0{method}\0{path}\0{key}".encode()
    lock_id = int.from_bytes(hashlib.sha256(ident).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [lock_id])
    return lock_id


def idempotency_unlock(lock_id: int | None) -> None:
    if lock_id is None:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_id])
    except DatabaseError:
        pass  # the connection is gone, and the session's locks with it


def idempotency_lookup(*, organization: Organization, key: str, method: str, path: str, fingerprint: str):
    # A malformed key is a client bug (400); 422 is kept for a key reused with another body.
    if len(key) > MAX_KEY_LENGTH:
        raise DomainError(f"must be at most {MAX_KEY_LENGTH} characters", field="Idempotency-Key")
    if not key.isprintable() or not key.isascii():
        raise DomainError("must be printable ASCII characters", field="Idempotency-Key")
    stored = IdempotencyKey.objects.filter(organization=organization, key=key, method=method, path=path).first()
    if stored is None:
        return None
    if stored.request_hash != fingerprint:
        raise Unprocessable(
            "this key was already used with a different request body; use a new key for a new request",
            field="Idempotency-Key",
        )
    headers = {"Location": stored.location} if stored.location else {}
    headers["Idempotent-Replayed"] = "true"
    return Response(stored.body, status=stored.status_code, headers=headers)


def idempotency_store(
    *, organization: Organization, key: str, method: str, path: str, fingerprint: str, response: Response
) -> None:
    body = json.loads(json.dumps(response.data, cls=JSONEncoder)) if response.data is not None else None
    try:
        with transaction.atomic():
            IdempotencyKey.objects.create(
                organization=organization,
                key=key,
                method=method,
                path=path,
                request_hash=fingerprint,
                status_code=response.status_code,
                body=body,
                location=response.get("Location", "")[:1024],
            )
    except IntegrityError:
        # A concurrent retry stored its answer first; both answers describe the same object.
        pass
