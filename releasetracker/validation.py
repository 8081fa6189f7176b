"""Input rules shared by every service: shas, times, text. They raise ``DomainError`` naming the field."""

import re
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from releasetracker.errors import DomainError

SHA_RE = re.compile(r"^[0-9a-fA-F]{7,64}$")
# A timestamp further ahead than this is a client clock or parsing bug, not a plan.
FUTURE_TOLERANCE = timedelta(days=1)
# The largest value a PositiveIntegerField column holds on PostgreSQL (SQLite would take more).
MAX_POSITIVE_INT = 2_147_483_647
# A deployment that takes longer than a year is a unit mistake.
MAX_DURATION_SECONDS = 366 * 86400


def clean_sha(value, *, field: str) -> str:
    if not isinstance(value, str):
        raise DomainError("must be a string of 7 to 64 hex digits", field=field)
    sha = value.strip()
    if not SHA_RE.match(sha):
        shown = sha if len(sha) <= 80 else sha[:77] + "..."
        raise DomainError(f"'{shown}' is not a commit sha (7 to 64 hex digits)", field=field)
    return sha.lower()


def clean_text(value, *, field: str, max_length: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError("must be a string", field=field)
    value = value.strip()
    if "\x00" in value:
        raise DomainError("must not contain NUL characters", field=field)
    if required and not value:
        raise DomainError("this field is required", field=field)
    if max_length and len(value) > max_length:
        raise DomainError(f"must be at most {max_length} characters (got {len(value)})", field=field)
    return value


def clean_time(value: datetime | None, *, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise DomainError("must be an ISO 8601 date-time with a timezone", field=field)
    if timezone.is_naive(value):
        raise DomainError("must carry a timezone (for example 2024-05-01T12:00:00Z)", field=field)
    if value > timezone.now() + FUTURE_TOLERANCE:
        raise DomainError("is more than a day in the future", field=field)
    if value.year < 1970:
        raise DomainError("is before 1970", field=field)
    # Stored in UTC whatever offset came in (PostgreSQL refuses offsets beyond ±15:59).
    return value.astimezone(UTC)


def clean_positive_int(value, *, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise DomainError("must be a whole number", field=field)
    if value < 0 or value > MAX_POSITIVE_INT:
        raise DomainError(f"must be between 0 and {MAX_POSITIVE_INT}", field=field)
    return value


def clean_model_text(model, name: str, value, *, field: str | None = None, required: bool = False) -> str:
    """``clean_text`` with the limit of ``model``'s field ``name``: a length is written only in the model."""
    return clean_text(value, field=field or name, max_length=model._meta.get_field(name).max_length, required=required)
