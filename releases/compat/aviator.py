"""Aviator's Releases REST API (seeds/aviator-releases-api.md), mounted at /api/releases/.

A release candidate ``X-rcN`` of a release project is a release whose version is ``X-rcN`` and
whose projects include the project. Environments must exist in the organization (created in the
admin, the native API or by any deployment), as Aviator's must be configured before use.

Errors are ``{"error": "..."}`` with the doc's exact messages where it gives one.
"""

import json
import re
from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

from deployments import selectors as deployment_selectors
from deployments.models import Deployment, DeploymentStatus, Environment
from deployments.services import deployment_record, deployment_update
from releases import selectors
from releases.models import Release, Source
from releases.services import CommitInput, RefInput, release_create
from releasetracker.api.authentication import authenticate_request
from releasetracker.errors import Conflict, DomainError
from releasetracker.models import ApiToken
from releasetracker.services import TokenRejected
from releasetracker.validation import SHA_RE

RC_VERSION_RE = re.compile(r"^.+-rc\d+$")
REPO_RE = re.compile(r"^[^/\s]+/[^/\s]+$")
# The doc's statuses, plus success (a deployment that finished well).
STATUSES = ("pending", "in_progress", "failure", "canceling", "canceled", "unknown", "success")
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100

INVALID_VERSION = "Invalid release candidate version"
INVALID_COMMIT = "Invalid commit hash"
REPO_NOT_FOUND = "GitHub repository not found"
ENV_NOT_FOUND = "Release environment not found"
RELEASE_NOT_FOUND = "Release not found"


class AviatorError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str, headers: dict | None = None) -> JsonResponse:
    return JsonResponse({"error": message}, status=status, headers=headers)


def aviator_view(methods: dict[str, Callable]) -> Callable:
    """One URL: authenticate (reads need read, writes need write), dispatch, render errors Aviator's way."""

    @csrf_exempt
    def view(request: HttpRequest, **kwargs) -> JsonResponse:
        if request.method not in methods:
            return _error(405, "Method not allowed", {"Allow": ", ".join(methods)})
        scope = ApiToken.Scope.READ if request.method == "GET" else ApiToken.Scope.WRITE
        try:
            token = _authenticate(request, scope)
            kwargs = {name: _path_text(value, name) for name, value in kwargs.items()}
            return methods[request.method](request, token, **kwargs)
        except AviatorError as exc:
            return _error(exc.status, exc.message)
        except DomainError as exc:
            return _error(exc.status, str(exc))
        except RequestDataTooBig:
            return _error(413, "Request body too large")

    return view


def _authenticate(request: HttpRequest, scope: str) -> ApiToken:
    try:
        token = authenticate_request(request)
    except TokenRejected as exc:
        raise AviatorError(401, f"Unauthorized: {exc}") from None
    if token is None:
        raise AviatorError(401, "Unauthorized: send 'Authorization: Bearer <token>'")
    if not token.has_scope(scope):
        raise AviatorError(403, f"Forbidden: this token lacks the '{scope}' scope")
    return token


def _json_object(request: HttpRequest, *, allow_empty: bool = False) -> dict:
    if allow_empty and not request.body.strip():
        return {}
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, RecursionError):
        raise AviatorError(400, "Invalid JSON body") from None
    if not isinstance(data, dict):
        raise AviatorError(400, "Invalid JSON body: expected an object")
    where = nul_path(data)
    if where is not None:
        raise AviatorError(400, f"Invalid {where}: must not contain NUL characters")
    return data


def nul_path(value, where: str = "body") -> str | None:
    """The first place in decoded JSON holding a NUL character, which no database column accepts."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = nul_path(key, where) or nul_path(item, str(key))
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_path(item, f"{where}[{index}]")
            if found:
                return found
    return None


def _path_text(value: str, name: str) -> str:
    if "\x00" in value or len(value) > 200:
        raise AviatorError(400, f"Invalid {name}: at most 200 characters, no NUL characters")
    return value


def _rc_version(value) -> str:
    if not isinstance(value, str) or len(value) > 200 or "\x00" in value or not RC_VERSION_RE.match(value.strip()):
        raise AviatorError(400, INVALID_VERSION)
    return value.strip()


def _status(data: dict, *, default: str | None) -> str:
    status = data.get("status", default)
    if status is None:
        raise AviatorError(400, "Invalid status: this field is required")
    if status not in STATUSES:
        raise AviatorError(400, f"Invalid status: must be one of {', '.join(STATUSES)}")
    return status


def _environment(token: ApiToken, name: str) -> Environment:
    env = deployment_selectors.environment_list(organization=token.organization).filter(name=name).first()
    if env is None:
        raise AviatorError(404, ENV_NOT_FOUND)
    return env


def _release_in_project(token: ApiToken, project: str, version: str) -> Release:
    release = (
        Release.objects.for_organization(token.organization).filter(version=version, projects__name=project).first()
    )
    if release is None:
        raise AviatorError(404, RELEASE_NOT_FOUND)
    return release


def _creator(token: ApiToken) -> str:
    return f"token {token.name} ({token.prefix})"


def render_deployment(deployment: Deployment) -> dict:
    return {
        "id": str(deployment.public_id),
        "project": deployment.project.name if deployment.project_id else None,
        "environment": deployment.environment.name,
        "release_candidate_version": deployment.release.version if deployment.release_id else None,
        "status": deployment.status,
        "is_rollback": deployment.is_rollback,
        "started_at": deployment.started_at,
        "finished_at": deployment.finished_at,
        "created_at": deployment.created_at,
        "updated_at": deployment.updated_at,
    }


def _deployments(token: ApiToken, env: Environment, project: str):
    return (
        deployment_selectors.deployment_list(organization=token.organization)
        .filter(environment=env, project__name=project)
        .order_by("-occurred_at", "-id")
    )


def _reload(token: ApiToken, deployment: Deployment) -> Deployment:
    return deployment_selectors.deployment_list(organization=token.organization).get(pk=deployment.pk)


# Views -------------------------------------------------------------------------------------


def create_release(request: HttpRequest, token: ApiToken, *, project: str, version: str) -> JsonResponse:
    version = _rc_version(version)
    data = _json_object(request)
    commit = data.get("commit")
    if not isinstance(commit, str) or not SHA_RE.match(commit.strip()):
        raise AviatorError(400, INVALID_COMMIT)
    repo = data.get("repo")
    if not isinstance(repo, str) or not REPO_RE.match(repo.strip()) or len(repo) > 200:
        raise AviatorError(400, "Invalid repo: expected org/repo_name")
    repo = repo.strip()
    trigger = data.get("trigger_build_workflow", False)
    if not isinstance(trigger, bool):
        raise AviatorError(400, "Invalid trigger_build_workflow: expected true or false")
    registered = selectors.repository_list(organization=token.organization)
    # An organization that registered its repositories gets Aviator's check; one that did not
    # has them created on first use, like every other entry point.
    if registered.exists() and not registered.filter(name=repo).exists():
        raise AviatorError(404, REPO_NOT_FOUND)
    try:
        release, created = release_create(
            organization=token.organization,
            version=version,
            projects=[project],
            commits=[CommitInput(sha=commit, repository=repo)],
            refs=[RefInput(repository=repo, commit=commit)],
            source=Source.AVIATOR,
            created_by=_creator(token),
            # "will start a build action that is configured in the settings": an outgoing webhook.
            request_build=trigger,
        )
    except Conflict:
        raise AviatorError(
            409, f"Release candidate {version} already exists with a different project, repo or commit"
        ) from None
    body = {
        "project": project,
        "release_candidate_version": release.version,
        "repo": repo,
        "commit": commit.strip().lower(),
        # The build itself runs wherever the organization's release.build_requested webhook points.
        "trigger_build_workflow": trigger,
        "status": "ready",
    }
    # A retry of the same request is not an error; 200 tells it apart from the first 201.
    return JsonResponse(body, status=201 if created else 200)


def _record(
    token: ApiToken,
    *,
    project: str,
    env: Environment,
    release: Release,
    status: str,
    is_rollback: bool = False,
    request_workflow: bool = False,
) -> Deployment:
    deployment, _ = deployment_record(
        organization=token.organization,
        environment=env.name,
        release=release,
        project=project,
        status=status,
        is_rollback=is_rollback,
        source=Source.AVIATOR,
        created_by=_creator(token),
        request_workflow=request_workflow,
    )
    return deployment


def create_deployment(request: HttpRequest, token: ApiToken, *, project: str, env: str) -> JsonResponse:
    data = _json_object(request)
    version = _rc_version(data.get("release_candidate_version"))
    status = _status(data, default=DeploymentStatus.PENDING)
    environment = _environment(token, env)
    release = _release_in_project(token, project, version)
    # Aviator: creating a deployment triggers the environment's deployment workflow (a webhook);
    # the status PATCH below does not.
    deployment = _record(token, project=project, env=environment, release=release, status=status, request_workflow=True)
    return JsonResponse(render_deployment(_reload(token, deployment)), status=201)


def update_deployment(request: HttpRequest, token: ApiToken, *, project: str, env: str) -> JsonResponse:
    data = _json_object(request)
    version = _rc_version(data.get("release_candidate_version"))
    status = _status(data, default=None)
    environment = _environment(token, env)
    release = _release_in_project(token, project, version)
    with transaction.atomic():
        deployment = _deployments(token, environment, project).filter(release=release).first()
        if deployment is None:
            deployment = _record(token, project=project, env=environment, release=release, status=status)
        else:
            deployment_update(organization=token.organization, deployment=deployment, status=status)
    # The doc: 200 even when the deployment was created by this call.
    return JsonResponse(render_deployment(_reload(token, deployment)), status=200)


def _positive_int(request: HttpRequest, name: str, default: int) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise AviatorError(400, f"Invalid {name}: expected a positive integer") from None
    if value < 1:
        raise AviatorError(400, f"Invalid {name}: expected a positive integer")
    return value


def list_deployments(request: HttpRequest, token: ApiToken, *, project: str, env: str) -> JsonResponse:
    page = _positive_int(request, "page", 1)
    per_page = min(_positive_int(request, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
    environment = _environment(token, env)
    queryset = _deployments(token, environment, project)
    total = queryset.count()
    start = (page - 1) * per_page
    rows = list(queryset[start : start + per_page]) if start < total else []
    return JsonResponse(
        {
            "deployments": [render_deployment(d) for d in rows],
            "page": page,
            "per_page": per_page,
            "total": total,
            "has_next": start + per_page < total,
        }
    )


def rollback(request: HttpRequest, token: ApiToken, *, project: str, env: str) -> JsonResponse:
    """Record a deployment flagged as a rollback: to the version named, or to the one live before the current one."""
    data = _json_object(request, allow_empty=True)
    status = _status(data, default=DeploymentStatus.PENDING)
    environment = _environment(token, env)
    if data.get("release_candidate_version") is not None:
        release = _release_in_project(token, project, _rc_version(data["release_candidate_version"]))
    else:
        live = list(
            _deployments(token, environment, project)
            .filter(status=DeploymentStatus.SUCCESS, release__isnull=False)
            .values_list("release_id", flat=True)[:200]
        )
        previous = next((rid for rid in live if rid != live[0]), None) if live else None
        if previous is None:
            raise AviatorError(404, RELEASE_NOT_FOUND)
        release = Release.objects.for_organization(token.organization).get(pk=previous)
    deployment = _record(
        token,
        project=project,
        env=environment,
        release=release,
        status=status,
        is_rollback=True,
        request_workflow=True,
    )
    return JsonResponse(render_deployment(_reload(token, deployment)), status=201)


# Aviator's paths have no trailing slash; one is tolerated rather than redirected (a redirect loses a POST body).
PROJECT = r"(?P<project>[^/]+)"
ENV = r"(?P<env>[^/]+)"

urlpatterns = [
    re_path(
        rf"^{PROJECT}/releases/(?P<version>[^/]+)/?$",
        aviator_view({"POST": create_release}),
        name="aviator-release",
    ),
    re_path(
        rf"^{PROJECT}/environments/{ENV}/deployments/?$",
        aviator_view({"POST": create_deployment, "PATCH": update_deployment, "GET": list_deployments}),
        name="aviator-deployments",
    ),
    re_path(
        rf"^{PROJECT}/environments/{ENV}/rollback/?$",
        aviator_view({"POST": rollback}),
        name="aviator-rollback",
    ),
]
