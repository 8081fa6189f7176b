"""Multitudes' Deployments API (seeds/multitudes-deployments-api.txt), mounted at /compat/multitudes/.

``POST /compat/multitudes/deployments``. Its clients send ``Authorization: <token>`` with no scheme
word (``Bearer <token>`` works too). Answers are the doc's plain-text responses: 201
``Deploy registered successfully``, 400 ``Invalid request - <reason>`` naming the field, 401 for a
key that is not valid, 403 for a revoked or expired key or one without the write scope.

``commitSha`` may be one sha or a list of them (one POST per repository, the merge commit of
each PR deployed). A deployment here has one commit: the first sha is recorded as its commit and
the list length as its commit count.
"""

from datetime import UTC, datetime

from django.http import HttpResponse
from django.urls import re_path
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated, PermissionDenied

from deployments.models import DeploymentStatus
from deployments.services import MAX_TAGS, deployment_record
from integrations.base import Refusal, VendorAPIView, invalid
from releases.models import Source
from releasetracker.api.authentication import RequiredTokenAuthentication
from releasetracker.services import TokenRejected
from releasetracker.validation import clean_sha

MAX_SHAS = 1000
FIELD_NAMES = {
    "commit_sha": "commitSha",
    "environment": "environmentName",
    "deployed_at": "deployedAt",
    "finished_at": "deployedAt",
}
TEXT = "text/plain; charset=utf-8"
# The doc's answers open with their reason.
OPENINGS = {
    400: "Invalid request - ",
    401: "Unauthorized - ",
    403: "Forbidden - ",
    404: "Not found - ",
    413: "Invalid request - ",
    429: "Too many requests - ",
}


class MultitudesAuthentication(RequiredTokenAuthentication):
    allow_bare = True
    credential_name = "API key"
    usage = "Authorization: <token>"

    def missing(self) -> NotAuthenticated:
        return NotAuthenticated(f"API key not valid (send '{self.usage}')")

    def rejected(self, exc: TokenRejected):
        # The doc: 401 for a key that is not valid, 403 for one that has been revoked.
        if exc.reason == "revoked":
            return PermissionDenied("API key has been revoked")
        if exc.reason == "expired":
            return PermissionDenied("API key has expired")
        return AuthenticationFailed("API key not valid")


def _shas(value) -> list[str]:
    if value is None or value == "" or value == []:
        raise invalid("commitSha", "is required")
    items = [value] if isinstance(value, str) else value
    if isinstance(items, list) and len(items) > MAX_SHAS:
        raise invalid("commitSha", f"at most {MAX_SHAS} shas per deployment")
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise invalid("commitSha", "must be a string or an array of strings")
    shas: list[str] = []
    for index, item in enumerate(items):
        name = "commitSha" if isinstance(value, str) else f"commitSha[{index}]"
        if len(item.strip()) < 7:
            raise invalid(name, "must be at least 7 characters")
        shas.append(clean_sha(item, field=name))
    return list(dict.fromkeys(shas))  # de-duplicated in linear time, in the order sent


def _deployed_at(value) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or "\x00" in value:
        raise invalid("deployedAt", "must be a UTC datetime in ISO 8601 format")
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        raise invalid("deployedAt", "must be a UTC datetime in ISO 8601 format, for example 2024-05-01T12:00:00Z")
    # The doc defines deployedAt as UTC, so a time without an offset is UTC, not a guess.
    return parsed.replace(tzinfo=UTC) if timezone.is_naive(parsed) else parsed


def _tags(value) -> list[str] | str:
    if value is None:
        return []
    if isinstance(value, str):
        return value
    if isinstance(value, list) and len(value) > MAX_TAGS:
        raise invalid("tags", f"at most {MAX_TAGS} tags")
    if isinstance(value, list) and all(isinstance(tag, str) for tag in value):
        return value
    raise invalid("tags", "must be a comma-separated string")


class MultitudesView(VendorAPIView):
    authentication_classes = [MultitudesAuthentication]
    field_names = FIELD_NAMES

    def render_error(self, refusal: Refusal) -> HttpResponse:
        if refusal.status == 405:
            text = f"Method not allowed - use {refusal.headers['Allow']}"
        else:
            text = OPENINGS.get(refusal.status, "") + str(refusal)
        return HttpResponse(text, status=refusal.status, content_type=TEXT, headers=refusal.headers)


class Deployments(MultitudesView):
    def post(self, request) -> HttpResponse:
        data = self.body()
        shas = _shas(data.get("commitSha"))
        environment = data.get("environmentName")
        if environment is None or environment == "":
            raise invalid("environmentName", "is required")
        if not isinstance(environment, str):
            raise invalid("environmentName", "must be a string")
        title = data.get("title")
        if title is not None and not isinstance(title, str):
            raise invalid("title", "must be a string")
        deployed_at = _deployed_at(data.get("deployedAt")) or timezone.now()
        deployment_record(
            organization=self.organization,
            environment=environment,
            commit_sha=shas[0],
            status=DeploymentStatus.SUCCESS,
            # deployedAt is when it went live: the deployment's finish time, which metrics read.
            deployed_at=deployed_at,
            finished_at=deployed_at,
            tags=_tags(data.get("tags")),
            commits_count=len(shas) if len(shas) > 1 else None,
            source=Source.MULTITUDES,
            created_by=self.created_by,
            title=title or "",
        )
        return HttpResponse("Deploy registered successfully", status=201, content_type=TEXT)


urlpatterns = [
    re_path(r"^deployments/?$", Deployments.as_view(), name="multitudes-deployments"),
    MultitudesView.unknown_paths("multitudes-unknown"),
]
