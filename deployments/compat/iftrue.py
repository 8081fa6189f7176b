"""iftrue's deployment tracking endpoint (seeds/iftrue-deployment-tracking-api.txt).

Mounted at /compat/iftrue/, so ``POST /compat/iftrue/v1/organization/deployment``. iftrue
deployments name no environment: they are what reached the production branch, so they are
recorded in the organization's production environment. The doc's quirks are kept: status
``succes`` (not ``success``) and ``fail``; ``deployment_duration`` is sent in minutes and
answered in seconds.

The doc gives no error body; errors here are ``{"statusCode", "message", "error"}``, the shape
of the Node (NestJS) API behind it, with ``message`` naming the field and the reason.
"""

import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

from django.core.exceptions import RequestDataTooBig, ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

from deployments.models import Deployment, DeploymentStatus
from deployments.selectors import deployment_list
from deployments.services import deployment_record, environment_production_get_or_create
from releases.models import Repository, Source
from releases.services import repository_get_or_create
from releasetracker.api.authentication import authenticate_request
from releasetracker.errors import DomainError
from releasetracker.models import ApiToken, Organization
from releasetracker.services import TokenRejected
from releasetracker.vendor import body_json_object

# iftrue's statuses, with the doc's spelling, and ours.
STATUS_IN = {"succes": DeploymentStatus.SUCCESS, "in_progress": DeploymentStatus.IN_PROGRESS, "fail": "failure"}
STATUS_OUT = {ours: theirs for theirs, ours in STATUS_IN.items()}
REQUIRED = ("title", "branch", "commit_id", "repository_url", "member_id", "pull_request_number")
STRINGS = {
    "title": 500,
    "changelog": 65_536,
    "url": 500,
    "branch": 255,
    "commit_id": 64,
    "repository_url": 500,
    "member_id": 200,
    "deployment_node_id": 200,
}
BOOLEANS = ("is_fix", "is_hotfix", "is_forced")
# One year, in minutes: anything longer is a unit mistake.
MAX_DURATION_MINUTES = 366 * 24 * 60
REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}
# Service field names that iftrue calls differently, for error messages.
FIELD_NAMES = {
    "commit_sha": "commit_id",
    "member": "member_id",
    "external_id": "deployment_node_id",
    "duration_seconds": "deployment_duration",
}


class IftrueError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str, headers: dict | None = None) -> JsonResponse:
    body = {"statusCode": status, "message": message, "error": REASONS.get(status, "Error")}
    return JsonResponse(body, status=status, headers=headers)


def iftrue_view(handler: Callable) -> Callable:
    @csrf_exempt
    def view(request: HttpRequest) -> JsonResponse:
        if request.method != "POST":
            return _error(405, f"Cannot {request.method} {request.path}", {"Allow": "POST"})
        try:
            return handler(request, _authenticate(request))
        except IftrueError as exc:
            return _error(exc.status, exc.message)
        except DomainError as exc:
            field = FIELD_NAMES.get(exc.field or "", exc.field)
            return _error(exc.status, f"{field}: {exc.message}" if field else exc.message)
        except RequestDataTooBig:
            return _error(413, "request body is too large")

    return view


def _authenticate(request: HttpRequest) -> ApiToken:
    try:
        token = authenticate_request(request)
    except TokenRejected as exc:
        raise IftrueError(401, f"Unauthorized: {exc}") from None
    if token is None:
        raise IftrueError(401, "Unauthorized: send 'Authorization: Bearer <token>'")
    if not token.has_scope(ApiToken.Scope.WRITE):
        raise IftrueError(403, "Forbidden: this token lacks the 'write' scope")
    return token


def _json_object(request: HttpRequest) -> dict:
    data = body_json_object(request)
    if data is None:
        raise IftrueError(400, "body: must be a JSON object")
    return data


def _number(value, name: str, *, integer: bool) -> int | float:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or value != value:  # value != value: NaN
        raise IftrueError(400, f"{name}: must be a {'whole number' if integer else 'number'}")
    if value < 0 or value > (2_147_483_647 if integer else MAX_DURATION_MINUTES):
        raise IftrueError(400, f"{name}: is out of range")
    return value


def _clean(data: dict) -> dict:
    for name in REQUIRED:
        if data.get(name) in (None, ""):
            raise IftrueError(400, f"{name}: this field is required")
    for name, limit in STRINGS.items():
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise IftrueError(400, f"{name}: must be a string")
        if "\x00" in value:
            raise IftrueError(400, f"{name}: must not contain NUL characters")
        if len(value) > limit:
            raise IftrueError(400, f"{name}: must be at most {limit} characters (got {len(value)})")
    for name in BOOLEANS:
        if not isinstance(data.get(name, False), bool):
            raise IftrueError(400, f"{name}: must be true or false")
    for name in ("repository_url", "url"):
        if data.get(name):
            try:
                URLValidator(schemes=["http", "https"])(data[name])
            except ValidationError:
                raise IftrueError(400, f"{name}: must be an http(s) URL") from None
    status = data.get("status", "succes")
    if status not in STATUS_IN:
        raise IftrueError(400, "status: must be one of succes, in_progress, fail")
    duration = data.get("deployment_duration")
    commits_count = data.get("commits_count", 0)
    return {
        "pull_request_number": _number(data["pull_request_number"], "pull_request_number", integer=True),
        "duration_minutes": None if duration is None else _number(duration, "deployment_duration", integer=False),
        "commits_count": _number(commits_count if commits_count is not None else 0, "commits_count", integer=True),
        "status": STATUS_IN[status],
    }


def _repository_name(url: str) -> str:
    """``owner/repo`` from a repository URL (``https://github.com/acme/api.git`` → ``acme/api``)."""
    parts = urlsplit(url)
    name = parts.path.strip("/").removesuffix(".git")
    return name or parts.netloc


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


def create_deployment(request: HttpRequest, token: ApiToken) -> JsonResponse:
    data = _json_object(request)
    cleaned = _clean(data)
    organization = token.organization
    minutes = cleaned["duration_minutes"]
    with transaction.atomic():
        repository = repository_get_or_create(
            organization=organization,
            name=_repository_name(data["repository_url"].strip()),
            url=data["repository_url"].strip(),
            field_name="repository_url",
        )
        deployment, created = deployment_record(
            organization=organization,
            environment=environment_production_get_or_create(organization=organization).name,
            commit_sha=data["commit_id"],
            status=cleaned["status"],
            duration_seconds=None if minutes is None else minutes * 60,
            is_fix=data.get("is_fix", False),
            is_hotfix=data.get("is_hotfix", False),
            is_forced=data.get("is_forced", False),
            # The git provider's deployment id makes a retry of the same deployment idempotent.
            external_id=data.get("deployment_node_id") or "",
            pull_request_number=cleaned["pull_request_number"],
            commits_count=cleaned["commits_count"],
            source=Source.IFTRUE,
            created_by=f"token {token.name} ({token.prefix})",
            title=data["title"],
            changelog=data.get("changelog") or "",
            url=data.get("url") or "",
            branch=data["branch"],
            member=data["member_id"],
            repository_url=data["repository_url"],
        )
    deployment = deployment_list(organization=organization).get(pk=deployment.pk)
    return JsonResponse(render(deployment, repository, organization), status=201 if created else 200)


urlpatterns = [
    re_path(r"^v1/organization/deployment/?$", iftrue_view(create_deployment), name="iftrue-deployment"),
]
