"""Input rules shared by every service: shas, times, text. They raise ``DomainError`` naming the field."""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.core.validators import URLValidator
from django.db import models
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


def clean_url(value, *, field: str, max_length: int, required: bool = False) -> str:
    """``clean_text`` that is also a web address with a host, in a scheme the native API's URL
    fields accept: a ``javascript:`` or ``data:`` URL stored from any entry point would become a
    link someone clicks. The native API checks the host's form more strictly; vendor clients
    send CI hosts without a dot (``http://jenkins:8080/``), which stay accepted."""
    value = clean_text(value, field=field, max_length=max_length, required=required)
    if not value:
        return value
    try:
        parts = urlsplit(value)
        has_host = bool(parts.hostname)
    except ValueError:  # an unbalanced IPv6 bracket, a port out of range
        parts, has_host = None, False
    if parts is None or parts.scheme.lower() not in URLValidator.schemes or not has_host:
        raise DomainError("must be an http or https URL, for example https://ci.example.com/builds/1", field=field)
    return value


def clean_model_text(model, name: str, value, *, field: str | None = None, required: bool = False) -> str:
    """``clean_text`` with the limit of ``model``'s field ``name``: a length is written only in the
    model. A URL column's value must also be a URL (``clean_url``)."""
    model_field = model._meta.get_field(name)
    clean = clean_url if isinstance(model_field, models.URLField) else clean_text
    return clean(value, field=field or name, max_length=model_field.max_length, required=required)
