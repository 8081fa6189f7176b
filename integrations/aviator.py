"""Aviator's Releases REST API (seeds/aviator-releases-api.md), mounted at /api/releases/.

A release candidate ``X-rcN`` of a release project is a release of the project, unique per
project: stored as ``<project>@X-rcN`` (``Release.candidate_key``), answered as ``X-rcN``.
Environments must exist in the organization (created in the admin, the native API or by any
deployment), as Aviator's must be configured before use.

Aviator's GitHub Actions guide adds two calls under /api/v1/ (``sync_urlpatterns``): the first
step of a build or deploy workflow that a ``release.build_requested`` or ``deployment.requested``
webhook started reports its run's id.

Errors are ``{"error": "..."}``: the doc's own sentence where it gives one, otherwise
``Invalid <field>: <reason>``.
"""

import dataclasses
import re

from django.http import JsonResponse
from django.urls import path, re_path
from rest_framework.settings import api_settings

from deployments.models import Deployment, DeploymentStatus, Environment
from deployments.selectors import deployment_get_by_public_id, deployment_list_of_project, environment_get
from deployments.services import (
    deployment_rollback,
    deployment_start,
    deployment_status_upsert,
    deployment_workflow_run_set,
)
from integrations.base import Refusal, VendorAPIView, invalid
from releases.models import Project, Release, Source
from releases.selectors import release_candidate_get, release_get_by_public_id
from releases.services import (
    release_candidate_create,
    release_candidate_version_clean,
    release_workflow_run_set,
    workflow_run_id_clean,
)
from releasetracker.api.authentication import RequiredTokenAuthentication
from releasetracker.errors import DomainError, NotFound
from releasetracker.validation import clean_model_text

REPO_RE = re.compile(r"^[^/\s]+/[^/\s]+$")
# The doc's statuses, plus success (a deployment that finished well).
STATUSES = ("pending", "in_progress", "failure", "canceling", "canceled", "unknown", "success")
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
FIELD_NAMES = {"repository": "repo"}
# The doc's own sentences, by status and field at fault (for a DomainError, the service's name
# of the field); the last three are this API's wording where the doc gives none.
SENTENCES = {
    (400, "version"): "Invalid release candidate version",
    (400, "release_candidate_version"): "Invalid release candidate version",
    (400, "commit"): "Invalid commit hash",
    (404, "repository"): "GitHub repository not found",
    (404, "environment"): "Release environment not found",
    (404, "release"): "Release not found",
    (404, "deployment"): "Deployment not found",
    (400, "body"): "Invalid JSON body: expected an object",
    (405, ""): "Method not allowed",
    (413, "body"): "Request body too large",
}
OPENINGS = {401: "Unauthorized: ", 403: "Forbidden: "}


class AviatorView(VendorAPIView):
    # Aviator's clients send "Authorization: Bearer <token>", refused in the native API's words.
    authentication_classes = [RequiredTokenAuthentication]
    field_names = FIELD_NAMES

    def refusal(self, exc: Exception) -> Refusal | None:
        refusal = super().refusal(exc)
        if refusal is None:
            return None
        field = (exc.field or "") if isinstance(exc, DomainError) else refusal.field
        sentence = SENTENCES.get((refusal.status, field))
        return dataclasses.replace(refusal, message=sentence, field="") if sentence else refusal

    def render_error(self, refusal: Refusal) -> JsonResponse:
        if refusal.field:
            message = f"Invalid {refusal.field}: {refusal.message}"
        else:
            message = OPENINGS.get(refusal.status, "") + refusal.message
        # Aviator's messages are sentences; a service's reason is not capitalized.
        message = message[:1].upper() + message[1:]
        return JsonResponse({"error": message}, status=refusal.status, headers=refusal.headers)


def render_deployment(deployment: Deployment) -> dict:
    times = ("started_at", "finished_at", "created_at", "updated_at")
    project = deployment.project.name if deployment.project_id else None
    return {
        "id": str(deployment.public_id),
        "project": project,
        "environment": deployment.environment.name,
        "release_candidate_version": deployment.release.candidate_version(project) if deployment.release_id else None,
        "status": deployment.status,
        "is_rollback": deployment.is_rollback,
        **{name: getattr(deployment, name) for name in times},
    }


def _status(data: dict, *, default: str | None) -> str:
    status = data.get("status", default)
    if status is None:
        raise invalid("status", "this field is required")
    if status not in STATUSES:
        raise invalid("status", f"must be one of {', '.join(STATUSES)}")
    return status


def _positive_int(query, name: str, default: int) -> int:
    try:
        value = int(query.get(name) or default)
    except ValueError:
        value = 0
    if value < 1:
        raise invalid(name, "expected a positive integer")
    return value


def _version(data: dict) -> str:
    return release_candidate_version_clean(data.get("release_candidate_version"), field="release_candidate_version")


class ReleaseCandidates(AviatorView):
    def post(self, request, project: str, version: str) -> JsonResponse:
        data = self.body()
        repo = data.get("repo")
        if not isinstance(repo, str) or not REPO_RE.match(repo.strip()):
            raise invalid("repo", "expected org/repo_name")
        trigger = data.get("trigger_build_workflow", False)
        if not isinstance(trigger, bool):
            raise invalid("trigger_build_workflow", "expected true or false")
        candidate = release_candidate_create(
            organization=self.organization,
            project=project,
            version=version,
            repository=repo,
            commit=data.get("commit"),
            # "will start a build action that is configured in the settings": an outgoing webhook,
            # wherever the organization's release.build_requested webhook points.
            request_build=trigger,
            source=Source.AVIATOR,
            created_by=self.created_by,
        )
        body = {
            "project": candidate.project,
            "release_candidate_version": candidate.version,
            "repo": candidate.repository,
            "commit": candidate.commit,
            "trigger_build_workflow": trigger,
            "status": "ready",
        }
        # A retry of the same request is not an error; 200 tells it apart from the first 201.
        return JsonResponse(body, status=201 if candidate.created else 200)


class InEnvironment(AviatorView):
    """The views under ``<project>/environments/<env>/``."""

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        # The project's name is looked up and recorded: within its model's limit first.
        self.project = clean_model_text(Project, "name", kwargs["project"], field="project", required=True)

    def environment(self) -> Environment:
        environment = environment_get(organization=self.organization, name=self.kwargs["env"])
        if environment is None:
            raise NotFound(f"no environment named {self.kwargs['env']}", field="environment")
        return environment

    def release(self, version: str) -> Release:
        release = release_candidate_get(organization=self.organization, project=self.project, version=version)
        if release is None:
            raise NotFound(f"no release candidate {version} of {self.project}", field="release")
        return release

    def arguments(self, data: dict, *, status: str | None) -> dict:
        """A deployment service's arguments from the body, checked in the order Aviator checks them."""
        version = _version(data)
        status = _status(data, default=status)
        environment = self.environment()
        release = self.release(version)
        return {"environment": environment, "release": release, "status": status, **self.recorded_as()}

    def recorded_as(self) -> dict:
        return {
            "organization": self.organization,
            "project": self.project,
            "source": Source.AVIATOR,
            "created_by": self.created_by,
        }


class Deployments(InEnvironment):
    def post(self, request, project: str, env: str) -> JsonResponse:
        deployment = deployment_start(**self.arguments(self.body(), status=DeploymentStatus.PENDING))
        return JsonResponse(render_deployment(deployment), status=201)

    def patch(self, request, project: str, env: str) -> JsonResponse:
        deployment, _ = deployment_status_upsert(**self.arguments(self.body(), status=None))
        # The doc: 200 even when the deployment was created by this call.
        return JsonResponse(render_deployment(deployment), status=200)

    def get(self, request, project: str, env: str) -> JsonResponse:
        page = _positive_int(request.query_params, "page", 1)
        per_page = min(_positive_int(request.query_params, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
        environment = self.environment()
        deployments = deployment_list_of_project(
            organization=self.organization, environment=environment, project=self.project
        )
        total, start = deployments.count(), (page - 1) * per_page
        rows = list(deployments[start : start + per_page]) if start < total else []
        body = {"page": page, "per_page": per_page, "total": total, "has_next": start + per_page < total}
        return JsonResponse({"deployments": [render_deployment(d) for d in rows], **body})


class Rollback(InEnvironment):
    def post(self, request, project: str, env: str) -> JsonResponse:
        # The body may be empty: a rollback then goes back to the release live before.
        data = request.data
        status = _status(data, default=DeploymentStatus.PENDING)
        environment = self.environment()
        named = data.get("release_candidate_version") is not None
        release = self.release(_version(data)) if named else None
        deployment = deployment_rollback(environment=environment, release=release, status=status, **self.recorded_as())
        return JsonResponse(render_deployment(deployment), status=201)


class SyncGitHubAction(AviatorView):
    """A workflow's first step reporting its run: ``{"<id_field>": "<id>", "workflow_run_id": "<github.run_id>"}``.

    These paths sit under the native API's prefix, where ``RateLimitMiddleware`` counts the
    per-IP limit and DRF the per-token one, in the view.
    """

    throttle_classes = api_settings.DEFAULT_THROTTLE_CLASSES
    id_field = ""

    def post(self, request) -> JsonResponse:
        data = self.body()
        public_id = data.get(self.id_field)
        if not isinstance(public_id, str) or not public_id.strip():
            raise invalid(self.id_field, "expected the id the workflow was dispatched with")
        public_id = public_id.strip()
        workflow_run_id = workflow_run_id_clean(data.get("workflow_run_id"))
        # The guide shows no answer: the link as recorded, in the request's own form.
        body = {self.id_field: public_id, "workflow_run_id": str(workflow_run_id)}
        return JsonResponse({**body, **self.record(public_id, workflow_run_id)})

    def record(self, public_id: str, workflow_run_id: int) -> dict:
        """Link the run to what ``public_id`` names; returns what else the answer shows."""
        raise NotImplementedError


class SyncBuild(SyncGitHubAction):
    """``POST /api/v1/sync-build-github-action``: the build of a release candidate (the ``id`` of its
    ``release.build_requested`` webhook)."""

    id_field = "release_cut_id"

    def record(self, public_id: str, workflow_run_id: int) -> dict:
        release = release_get_by_public_id(organization=self.organization, public_id=public_id)
        if release is None:
            raise NotFound(f"no release with id {public_id}", field="release")
        release_workflow_run_set(organization=self.organization, release=release, workflow_run_id=workflow_run_id)
        return {}


class SyncDeploy(SyncGitHubAction):
    """``POST /api/v1/sync-deploy-github-action``: a deployment (the ``id`` of its
    ``deployment.requested`` webhook), in progress from then if it had not started."""

    id_field = "deployment_id"

    def record(self, public_id: str, workflow_run_id: int) -> dict:
        deployment = deployment_get_by_public_id(organization=self.organization, public_id=public_id)
        if deployment is None:
            raise NotFound(f"no deployment with id {public_id}", field="deployment")
        deployment = deployment_workflow_run_set(
            organization=self.organization, deployment=deployment, workflow_run_id=workflow_run_id
        )
        return {"status": deployment.status}


# Aviator's paths have no trailing slash; one is tolerated rather than redirected (a redirect loses a POST body).
PROJECT = r"(?P<project>[^/]+)"
ENV = r"(?P<env>[^/]+)"

urlpatterns = [
    re_path(rf"^{PROJECT}/releases/(?P<version>[^/]+)/?$", ReleaseCandidates.as_view(), name="aviator-release"),
    re_path(rf"^{PROJECT}/environments/{ENV}/deployments/?$", Deployments.as_view(), name="aviator-deployments"),
    re_path(rf"^{PROJECT}/environments/{ENV}/rollback/?$", Rollback.as_view(), name="aviator-rollback"),
    AviatorView.unknown_paths("aviator-unknown"),
]

# The GitHub Actions guide's calls, under /api/v1/ like Aviator's own (its exact paths, as the
# guide writes them): releasetracker/urls.py tries them before the native API.
sync_urlpatterns = [
    path("api/v1/sync-build-github-action", SyncBuild.as_view(), name="aviator-sync-build"),
    path("api/v1/sync-deploy-github-action", SyncDeploy.as_view(), name="aviator-sync-deploy"),
]
