"""iftrue's deployment tracking endpoint (seeds/iftrue-deployment-tracking-api.txt).

Mounted at /compat/iftrue/, so ``POST /compat/iftrue/v1/organization/deployment``. iftrue
deployments name no environment: they are what reached the production branch, so they are
recorded in the organization's production environment. A second report with the same
``deployment_node_id`` is the same deployment: a new status moves it there
(``deployment_report_by_external_id``), and the answer (200) is the record as it now is. The
doc's quirks are kept: status ``succes`` (not ``success``) and ``fail``;
``deployment_duration`` is sent in minutes and answered in seconds.

The doc gives no error body; errors here are ``{"statusCode", "message", "error"}``, the shape
of the Node (NestJS) API behind it, with ``message`` naming the field and the reason.
"""

import uuid
from http import HTTPStatus

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.http import JsonResponse
from django.urls import re_path

from deployments.models import Deployment, DeploymentStatus
from deployments.services import deployment_record_from_repository
from integrations.base import Refusal, VendorAPIView, invalid
from releases.models import Repository, Source
from releasetracker.models import Organization
from releasetracker.validation import MAX_DURATION_SECONDS, MAX_POSITIVE_INT

# iftrue's statuses, with the doc's spelling, and ours.
STATUS_IN = {"succes": DeploymentStatus.SUCCESS, "in_progress": DeploymentStatus.IN_PROGRESS, "fail": "failure"}
STATUS_OUT = {ours: theirs for theirs, ours in STATUS_IN.items()}
REQUIRED = ("title", "branch", "commit_id", "repository_url", "member_id", "pull_request_number")
# Their lengths and characters are the service's checks.
STRINGS = ("title", "changelog", "url", "branch", "commit_id", "repository_url", "member_id", "deployment_node_id")
BOOLEANS = ("is_fix", "is_hotfix", "is_forced")
URLS = ("repository_url", "url")
FIELD_NAMES = {
    "commit_sha": "commit_id",
    "member": "member_id",
    "external_id": "deployment_node_id",
    "duration_seconds": "deployment_duration",
}
OPENINGS = {401: "Unauthorized: ", 403: "Forbidden: "}


def _number(value, name: str, *, integer: bool, maximum: float) -> int | float:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok:
        raise invalid(name, f"must be a {'whole number' if integer else 'number'}")
    if not 0 <= value <= maximum:
        raise invalid(name, "is out of range")
    return value


def _clean(data: dict) -> dict:
    for name in REQUIRED:
        if data.get(name) in (None, ""):
            raise invalid(name, "this field is required")
    for name in STRINGS:
        if data.get(name) is not None and not isinstance(data[name], str):
            raise invalid(name, "must be a string")
    for name in BOOLEANS:
        if not isinstance(data.get(name, False), bool):
            raise invalid(name, "must be true or false")
    for name in URLS:
        if data.get(name):
            try:
                URLValidator(schemes=["http", "https"])(data[name])
            except ValidationError:
                raise invalid(name, "must be an http(s) URL") from None
    status = data.get("status", "succes")
    if status not in STATUS_IN:
        raise invalid("status", "must be one of succes, in_progress, fail")
    minutes = data.get("deployment_duration")
    if minutes is not None:
        minutes = _number(minutes, "deployment_duration", integer=False, maximum=MAX_DURATION_SECONDS / 60)
    commits_count = data.get("commits_count")  # the doc's default: 0
    return {
        "pull_request_number": _number(
            data["pull_request_number"], "pull_request_number", integer=True, maximum=MAX_POSITIVE_INT
        ),
        # The doc's request gives the duration in minutes.
        "duration_seconds": None if minutes is None else minutes * 60,
        "commits_count": _number(
            0 if commits_count is None else commits_count, "commits_count", integer=True, maximum=MAX_POSITIVE_INT
        ),
        "status": STATUS_IN[status],
    }


def _pusher_id(organization_id: uuid.UUID, member_id: str) -> str:
    """A stable UUID for an external member: theirs when it is one, else derived from it per organization."""
    try:
        return str(uuid.UUID(member_id))
    except ValueError:
        return str(uuid.uuid5(organization_id, f"iftrue-member:{member_id}"))


def render(deployment: Deployment, repository: Repository, organization: Organization) -> dict:
    """The doc's deployment record."""
    org_id = organization.public_id
    return {
        "id": str(deployment.public_id),
        "triggered_by": "api",
        "title": deployment.title,
        "changelog": deployment.changelog,
        "is_hotfix": deployment.is_hotfix,
        "is_forced": deployment.is_forced,
        "commits_count": deployment.commits_count or 0,
        "organization_id": str(org_id),
        "repository_id": str(repository.public_id),
        "pusher_id": _pusher_id(org_id, deployment.member),
        "created_at": deployment.created_at,
        "updated_at": deployment.updated_at,
        "status": STATUS_OUT.get(deployment.status, deployment.status),
        "url": deployment.url,
        "branch": deployment.branch,
        "commit_id": deployment.commit_sha,
        # The doc's response gives the duration in seconds (the request, in minutes).
        "deployment_duration": deployment.duration_seconds,
        "node_id": deployment.external_id or None,
        "is_fix": deployment.is_fix,
    }


class IftrueView(VendorAPIView):
    field_names = FIELD_NAMES

    def render_error(self, refusal: Refusal) -> JsonResponse:
        if refusal.status in (404, 405):
            # NestJS's words for a route it does not serve (this API's only 404 is a path).
            message = f"Cannot {self.request.method} {self.request.path}"
        else:
            message = OPENINGS.get(refusal.status, "") + str(refusal)
        body = {"statusCode": refusal.status, "message": message, "error": HTTPStatus(refusal.status).phrase}
        return JsonResponse(body, status=refusal.status, headers=refusal.headers)


class Deployments(IftrueView):
    def post(self, request) -> JsonResponse:
        data = self.body()
        cleaned = _clean(data)
        deployment, repository, created = deployment_record_from_repository(
            organization=self.organization,
            repository_url=data["repository_url"],
            commit_sha=data["commit_id"],
            status=cleaned["status"],
            duration_seconds=cleaned["duration_seconds"],
            is_fix=data.get("is_fix", False),
            is_hotfix=data.get("is_hotfix", False),
            is_forced=data.get("is_forced", False),
            # The git provider's deployment id names the deployment: a pipeline reports it when it
            # starts and again when it ends, and the second report moves it to its new status.
            external_id=data.get("deployment_node_id") or "",
            pull_request_number=cleaned["pull_request_number"],
            commits_count=cleaned["commits_count"],
            source=Source.IFTRUE,
            created_by=self.created_by,
            title=data["title"],
            changelog=data.get("changelog") or "",
            url=data.get("url") or "",
            branch=data["branch"],
            member=data["member_id"],
        )
        return JsonResponse(render(deployment, repository, self.organization), status=201 if created else 200)


urlpatterns = [
    re_path(r"^v1/organization/deployment/?$", Deployments.as_view(), name="iftrue-deployment"),
    IftrueView.unknown_paths("iftrue-unknown"),
]
