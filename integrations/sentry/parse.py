"""Sentry's request bodies in our services' terms: JSON types checked under Sentry's field names.

Values (lengths, shas' form, which repositories exist) are the services' to check; what is here
is only what Sentry's wire format defines.
"""

from datetime import datetime

from django.utils.dateparse import parse_datetime

from integrations.base import invalid
from releases.services import MAX_COMMITS_PER_REQUEST, MAX_PROJECTS, MAX_REFS, CommitInput, RefInput
from releasetracker.validation import clean_sha, clean_time

# Sentry refuses these in versions (its Release.is_valid_version); "/" would also break its URLs.
BAD_VERSION_CHARS = "\r\n\f\t/\\"
RESERVED_VERSIONS = {".", "..", "latest"}


def version(body: dict):
    """The version, refused as Sentry refuses it; its presence and length are the service's to check."""
    value = body.get("version")
    if isinstance(value, str):
        value = value.strip()
        if any(c in value for c in BAD_VERSION_CHARS) or value.lower() in RESERVED_VERSIONS:
            raise invalid(
                "version", f"'{value}' is not allowed (no slashes, tabs or newlines; not '.', '..', 'latest')"
            )
    return value


# Sentry's release statuses, as whether the release is archived.
STATUSES = {"open": False, "archived": True}
STATUS_CHOICES = "must be 'open' or 'archived'"


def status(body: dict) -> bool | None:
    """Sentry's ``status`` of a release (``releases archive`` and ``restore`` send it): archived or not."""
    value = body.get("status")
    if value is None:
        return None
    if not isinstance(value, str) or value not in STATUSES:
        raise invalid("status", STATUS_CHOICES)
    return STATUSES[value]


def listed_status(params) -> bool | None:
    """Which releases Sentry's organization list shows: the open ones unless ``status`` says
    otherwise (``archived``, or empty for all of them)."""
    value = params.get("status", "open")
    if value == "":
        return None
    if value not in STATUSES:
        raise invalid("status", STATUS_CHOICES)
    return STATUSES[value]


def time(body: dict, key: str, *, field: str | None = None) -> datetime | None:
    """An ISO 8601 date-time (``sentry-cli`` sends nanoseconds and ``Z``), checked under Sentry's field name."""
    field = field or key
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise invalid(field, "must be an ISO 8601 date-time string")
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        raise invalid(field, f"'{value[:80]}' is not an ISO 8601 date-time")
    return clean_time(parsed, field=field)


def text(body: dict, key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(key, "must be a string")
    return value


def items(body: dict, key: str, *, of: type, limit: int) -> list | None:
    """The list ``key`` of items of type ``of``, refused by its length before any item is looked at."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise invalid(key, "must be a list")
    if len(value) > limit:
        raise invalid(key, f"at most {limit} {key} per request")
    for index, item in enumerate(value):
        if not isinstance(item, of):
            raise invalid(f"{key}.{index}", "must be an object" if of is dict else "must be a string")
    return value


def projects(body: dict) -> list[str] | None:
    return items(body, "projects", of=str, limit=MAX_PROJECTS)


def _stripped(item: dict, key: str):
    # Missing and null are "not given"; any other non-string reaches the service, which names it.
    value = item.get(key)
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else value


def commits(body: dict) -> list[CommitInput]:
    """Sentry's ``commits``, as ``set-commits --local`` sends them (its ``patch_set`` is not kept)."""
    return [
        CommitInput(
            sha=clean_sha(item.get("id"), field=f"commits.{index}.id"),
            repository=_stripped(item, "repository"),
            message=_stripped(item, "message"),
            author_name=_stripped(item, "author_name"),
            author_email=_stripped(item, "author_email"),
            timestamp=time(item, "timestamp", field=f"commits.{index}.timestamp"),
        )
        for index, item in enumerate(items(body, "commits", of=dict, limit=MAX_COMMITS_PER_REQUEST) or [])
    ]


def refs(body: dict) -> list[RefInput]:
    """Sentry's ``refs``, as ``set-commits --commit REPO@[PREV..]SHA`` sends them."""
    parsed = []
    for index, item in enumerate(items(body, "refs", of=dict, limit=MAX_REFS) or []):
        repository = item.get("repository")
        if not isinstance(repository, str) or not repository.strip():
            raise invalid(f"refs.{index}.repository", "must be the name of a repository")
        previous = item.get("previousCommit")
        parsed.append(
            RefInput(
                repository=repository.strip(),
                commit=clean_sha(item.get("commit"), field=f"refs.{index}.commit"),
                previous_commit=clean_sha(previous, field=f"refs.{index}.previousCommit") if previous else "",
            )
        )
    return parsed
