"""Multitudes' Deployments API (seeds/multitudes-deployments-api.txt), mounted at /compat/multitudes/.

``POST /compat/multitudes/deployments``. Its clients send ``Authorization: <token>`` with no scheme
word (``Bearer <token>`` works too). Answers are the doc's plain-text responses: 201
``Deploy registered successfully``, 400 ``Invalid request - <reason>`` naming the field, 401 for a
key that is not valid, 403 for a revoked or expired key or one without the write scope.

``commitSha`` may be one sha or a list of them (one POST per repository, the merge commit of
each PR deployed). A deployment here has one commit: the first sha is recorded as its commit and
the list length as its commit count.
"""

from collections.abc import Callable
from datetime import UTC, datetime

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.urls import re_path
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from deployments.models import DeploymentStatus
from deployments.services import deployment_record
from releases.models import Source
from releasetracker.api.authentication import authenticate_request
from releasetracker.errors import DomainError
from releasetracker.models import ApiToken
from releasetracker.services import TokenRejected
from releasetracker.validation import clean_sha, clean_text, clean_time
from releasetracker.vendor import body_json_object

MAX_SHAS = 1000
FIELD_NAMES = {
    "commit_sha": "commitSha",
    "environment": "environmentName",
    "deployed_at": "deployedAt",
    "finished_at": "deployedAt",
}


class MultitudesError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _text(status: int, message: str, headers: dict | None = None) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8", headers=headers)


def _invalid(reason: str) -> MultitudesError:
    return MultitudesError(400, f"Invalid request - {reason}")


def multitudes_view(handler: Callable) -> Callable:
    @csrf_exempt
    def view(request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return _text(405, "Method not allowed - use POST", {"Allow": "POST"})
        try:
            return handler(request, _authenticate(request))
        except MultitudesError as exc:
            return _text(exc.status, exc.message)
        except DomainError as exc:
            if exc.status != 400:
                return _text(exc.status, exc.message)
            head, _, rest = (exc.field or "").partition(".")
            field = FIELD_NAMES.get(head, head) + (f".{rest}" if rest else "")
            return _text(400, f"Invalid request - {field}: {exc.message}" if field else f"Invalid request - {exc}")
        except RequestDataTooBig:
            return _text(413, "Invalid request - the request body is too large")

    return view


def _authenticate(request: HttpRequest) -> ApiToken:
    try:
        token = authenticate_request(request, allow_bare=True)
    except TokenRejected as exc:
        if exc.reason in ("revoked", "expired"):
            raise MultitudesError(
                403, f"Forbidden - API key {'has been revoked' if exc.reason == 'revoked' else 'has expired'}"
            ) from None
        raise MultitudesError(401, "Unauthorized - API key not valid") from None
    if token is None:
        raise MultitudesError(401, "Unauthorized - API key not valid (send 'Authorization: <token>')")
    if not token.has_scope(ApiToken.Scope.WRITE):
        raise MultitudesError(403, "Forbidden - API key does not have the write scope")
    return token


def _json_object(request: HttpRequest) -> dict:
    data = body_json_object(request)
    if data is None:
        raise _invalid("body: must be a JSON object")
    return data


def _shas(value) -> list[str]:
    if value is None or value == "" or value == []:
        raise _invalid("commitSha: is required")
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise _invalid("commitSha: must be a string or an array of strings")
    if len(items) > MAX_SHAS:
        raise _invalid(f"commitSha: at most {MAX_SHAS} shas per deployment")
    shas: list[str] = []
    for index, item in enumerate(items):
        name = "commitSha" if isinstance(value, str) else f"commitSha[{index}]"
        if len(item.strip()) < 7:
            raise _invalid(f"{name}: must be at least 7 characters")
        sha = clean_sha(item, field=name)
        if sha not in shas:
            shas.append(sha)
    return shas


def _deployed_at(value) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or "\x00" in value:
        raise _invalid("deployedAt: must be a UTC datetime in ISO 8601 format")
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        raise _invalid("deployedAt: must be a UTC datetime in ISO 8601 format, for example 2024-05-01T12:00:00Z")
    if timezone.is_naive(parsed):
        # The doc defines deployedAt as UTC, so a time without an offset is UTC, not a guess.
        parsed = parsed.replace(tzinfo=UTC)
    return clean_time(parsed, field="deployedAt")


def _tags(value) -> list[str] | str:
    if value is None:
        return []
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(tag, str) for tag in value):
        return value
    raise _invalid("tags: must be a comma-separated string")


def create_deployment(request: HttpRequest, token: ApiToken) -> HttpResponse:
    data = _json_object(request)
    shas = _shas(data.get("commitSha"))
    environment = data.get("environmentName")
    if environment is None or environment == "":
        raise _invalid("environmentName: is required")
    if not isinstance(environment, str):
        raise _invalid("environmentName: must be a string")
    environment = clean_text(environment, field="environmentName", max_length=100, required=True)
    title = data.get("title")
    if title is not None and not isinstance(title, str):
        raise _invalid("title: must be a string")
    deployed_at = _deployed_at(data.get("deployedAt")) or timezone.now()
    deployment_record(
        organization=token.organization,
        environment=environment,
        commit_sha=shas[0],
        status=DeploymentStatus.SUCCESS,
        # deployedAt is when it went live: the deployment's finish time, which metrics read.
        deployed_at=deployed_at,
        finished_at=deployed_at,
        tags=_tags(data.get("tags")),
        commits_count=len(shas) if len(shas) > 1 else None,
        source=Source.MULTITUDES,
        created_by=f"token {token.name} ({token.prefix})",
        title=title or "",
    )
    return _text(201, "Deploy registered successfully")


urlpatterns = [
    re_path(r"^deployments/?$", multitudes_view(create_deployment), name="multitudes-deployments"),
]
