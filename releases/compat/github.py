"""GitHub webhooks at /hooks/github/<org-slug>/: a thin translation of GitHub events to our services.

Every delivery is authenticated by ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with the
organization's webhook secret) and de-duplicated by ``X-GitHub-Delivery``. Mapped events:

- ``deployment`` / ``deployment_status``: a deployment and its status history; the GitHub
  deployment id is the deployment's ``external_id`` so later statuses find it.
- ``release`` (action ``published``): a release whose version is the tag name.
- ``push`` to the repository's default branch: its commits with authors, times and messages,
  so lead time measures from the real commit time.

``ping`` answers 200; any other event or action is acknowledged with 202 and ignored. A payload
that lacks what its event needs is a 400 naming the field, and nothing of it is stored.
"""

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime

from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from deployments import services as deployment_services
from deployments.models import FINAL_STATUSES, Deployment, DeploymentStatus
from releases import services as release_services
from releases.models import Release, Source
from releases.services import CommitInput
from releasetracker.errors import Conflict, DomainError
from releasetracker.models import GitHubDelivery, Organization

SIGNATURE_HEADER = "X-Hub-Signature-256"
# Compared against when the organization is unknown or has no secret, so those cases take the
# same path (and about the same time) as a wrong signature: the answer reveals no slug.
_NO_SECRET = b"no secret: this value never matches a GitHub signature"
BAD_SIGNATURE = (
    f"{SIGNATURE_HEADER} does not match: the webhook's secret must be the organization's webhook secret "
    "(`manage.py webhook_secret <org-slug>` prints it)"
)

# GitHub deployment states -> ours. "inactive" is missing on purpose: GitHub sets it on the
# previous deployment when a newer one succeeds, which says nothing about how that one went.
STATES = {
    "pending": DeploymentStatus.PENDING,
    "queued": DeploymentStatus.QUEUED,
    "in_progress": DeploymentStatus.IN_PROGRESS,
    "success": DeploymentStatus.SUCCESS,
    "failure": DeploymentStatus.FAILURE,
    "error": DeploymentStatus.FAILURE,
}


class Malformed(DomainError):
    """The payload lacks a field its event needs, or has it in the wrong type."""


class Result:
    """What a handler did: its HTTP status (200 done, 202 ignored) and a note for the delivery log."""

    def __init__(self, note: str, *, status: int = 200, **details):
        self.status = status
        self.body = {"ok": True, "note": note, **details}


# Payload access: each getter names the JSON path at fault -------------------------------------


def _obj(data: dict, key: str, path: str) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise Malformed("must be an object", field=path)
    return value


def _str(data: dict, key: str, path: str, *, required: bool = True) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise Malformed("must be a non-empty string" if required else "must be a string", field=path)
    return value.strip()


def _int(data: dict, key: str, path: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed("must be a whole number", field=path)
    return value


def _time(data: dict, key: str, path: str) -> datetime | None:
    value = data.get(key)
    if value in (None, ""):
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None or timezone.is_naive(parsed):
        raise Malformed("must be an ISO 8601 date-time with a timezone", field=path)
    return parsed


def _login(data: dict, key: str) -> str:
    user = data.get(key)
    if isinstance(user, dict) and isinstance(user.get("login"), str):
        return user["login"]
    return ""


# Event handlers --------------------------------------------------------------------------------


def _deployment_fields(org: Organization, payload: dict) -> dict:
    """The deployment_record arguments shared by the deployment and deployment_status events."""
    deployment = _obj(payload, "deployment", "deployment")
    repository = _obj(payload, "repository", "repository")
    ref = _str(deployment, "ref", "deployment.ref", required=False)
    sha = _str(deployment, "sha", "deployment.sha")
    fields = {
        "environment": _str(deployment, "environment", "deployment.environment"),
        "commit_sha": sha,
        "external_id": str(_int(deployment, "id", "deployment.id")),
        "triggered_by": _login(deployment, "creator"),
        "title": _str(deployment, "description", "deployment.description", required=False)
        or f"{_str(deployment, 'task', 'deployment.task', required=False) or 'deploy'} {ref or sha[:12]}",
        "repository_url": _str(repository, "html_url", "repository.html_url", required=False),
    }
    # A deployment of a tag that names a release deploys that release; otherwise the sha finds
    # the release containing it (deployment_record does that) and the repository is the project.
    if ref and Release.objects.for_organization(org).filter(version=ref).exists():
        fields["release"] = ref
    else:
        fields["project"] = _str(repository, "name", "repository.name")
        if ref and ref.lower() != sha.lower():
            fields["branch"] = ref.removeprefix("refs/heads/")
    return fields


def handle_deployment(org: Organization, payload: dict) -> Result:
    fields = _deployment_fields(org, payload)
    deployment, created = deployment_services.deployment_record(
        organization=org, status=DeploymentStatus.PENDING, source=Source.GITHUB, created_by="GitHub webhook", **fields
    )
    note = "deployment recorded" if created else "deployment already recorded (a status arrived first)"
    return Result(note, deployment=str(deployment.public_id))


def handle_deployment_status(org: Organization, payload: dict) -> Result:
    fields = _deployment_fields(org, payload)
    status_data = _obj(payload, "deployment_status", "deployment_status")
    state = _str(status_data, "state", "deployment_status.state")
    if state == "inactive":
        return Result("state 'inactive' (superseded by a newer deployment) ignored: the outcome is kept", status=202)
    if state not in STATES:
        raise Malformed(f"'{state}' is not a GitHub deployment state", field="deployment_status.state")
    status = STATES[state]
    at = _time(status_data, "created_at", "deployment_status.created_at") or timezone.now()
    url = next(
        (
            value
            for key in ("log_url", "target_url", "environment_url")
            if (value := _str(status_data, key, f"deployment_status.{key}", required=False))
        ),
        "",
    )
    existing = (
        Deployment.objects.for_organization(org)
        .filter(environment__name=fields["environment"], external_id=fields["external_id"])
        .first()
    )
    if existing is None:
        # The deployment event was missed or is still on its way: record it with this status.
        times = {"finished_at": at} if status in FINAL_STATUSES else {}
        if status == DeploymentStatus.IN_PROGRESS:
            times["started_at"] = at
        deployment, _ = deployment_services.deployment_record(
            organization=org,
            status=status,
            source=Source.GITHUB,
            created_by="GitHub webhook",
            url=url,
            **times,
            **fields,
        )
        return Result(f"deployment recorded as {status}", deployment=str(deployment.public_id))

    if existing.is_final and existing.finished_at and at < existing.finished_at:
        # GitHub does not promise order: a late "in_progress" must not undo a recorded outcome.
        return Result(f"state '{state}' is older than the deployment's outcome; ignored", status=202)
    deployment_services.deployment_update(
        organization=org, deployment=existing, status=status, at=at, **({"url": url} if url else {})
    )
    return Result(f"deployment status set to {status}", deployment=str(existing.public_id))


def handle_release(org: Organization, payload: dict) -> Result:
    action = _str(payload, "action", "action")
    if action != "published":
        return Result(f"release action '{action}' ignored: only 'published' is tracked", status=202)
    release = _obj(payload, "release", "release")
    repository = _obj(payload, "repository", "repository")
    version = _str(release, "tag_name", "release.tag_name")
    url = _str(release, "html_url", "release.html_url", required=False)
    published_at = _time(release, "published_at", "release.published_at")
    existing = Release.objects.for_organization(org).filter(version=version).first()
    if existing is None:
        try:
            created, _ = release_services.release_create(
                organization=org,
                version=version,
                name=_str(release, "name", "release.name", required=False),
                ref=_str(release, "target_commitish", "release.target_commitish", required=False),
                url=url,
                date_released=published_at,
                projects=[_str(repository, "name", "repository.name")],
                status=Release.Status.SUCCESS,
                source=Source.GITHUB,
                created_by=f"GitHub webhook ({_login(payload, 'sender') or 'unknown sender'})",
            )
            return Result("release recorded", release=str(created.public_id), version=version)
        except Conflict:
            existing = Release.objects.for_organization(org).get(version=version)
    # Already reported (by CI, usually): keep it, fill in only what it lacks.
    missing = {}
    if url and not existing.url:
        missing["url"] = url
    if published_at and not existing.date_released:
        missing["date_released"] = published_at
    if missing:
        release_services.release_update(organization=org, release=existing, **missing)
    note = f"release already recorded; filled in {', '.join(missing)}" if missing else "release already recorded"
    return Result(note, release=str(existing.public_id), version=version)


def handle_push(org: Organization, payload: dict) -> Result:
    ref = _str(payload, "ref", "ref")
    repository = _obj(payload, "repository", "repository")
    default_branch = _str(repository, "default_branch", "repository.default_branch")
    if ref != f"refs/heads/{default_branch}":
        return Result(f"push to {ref} ignored: only the default branch ({default_branch}) is tracked", status=202)
    if payload.get("deleted") is True:
        return Result("branch deletion ignored", status=202)
    commits = payload.get("commits")
    if not isinstance(commits, list):
        raise Malformed("must be a list", field="commits")
    full_name = _str(repository, "full_name", "repository.full_name")
    inputs = []
    for index, commit in enumerate(commits):
        if not isinstance(commit, dict):
            raise Malformed("must be an object", field=f"commits.{index}")
        author = commit.get("author") if isinstance(commit.get("author"), dict) else {}
        inputs.append(
            CommitInput(
                sha=_str(commit, "id", f"commits.{index}.id"),
                repository=full_name,
                message=_str(commit, "message", f"commits.{index}.message", required=False),
                author_name=_str(author, "name", f"commits.{index}.author.name", required=False),
                author_email=_str(author, "email", f"commits.{index}.author.email", required=False),
                timestamp=_time(commit, "timestamp", f"commits.{index}.timestamp"),
            )
        )
    release_services.repository_get_or_create(
        organization=org,
        name=full_name,
        url=_str(repository, "html_url", "repository.html_url", required=False),
        provider="github",
    )
    stored = release_services.commits_record(organization=org, commits=inputs)
    return Result(f"{len(stored)} commit(s) recorded", commits=len(stored))


HANDLERS: dict[str, Callable[[Organization, dict], Result]] = {
    "deployment": handle_deployment,
    "deployment_status": handle_deployment_status,
    "release": handle_release,
    "push": handle_push,
}


# The endpoint ------------------------------------------------------------------------------------


def _error(status: int, message: str, code: str, fields: dict | None = None) -> JsonResponse:
    body = {"error": message, "code": code}
    if fields:
        body["fields"] = fields
    return JsonResponse(body, status=status)


def _signature_matches(org: Organization | None, body: bytes, signature: str) -> bool:
    secret = org.github_webhook_secret.encode() if org is not None and org.github_webhook_secret else None
    expected = "sha256=" + hmac.new(secret or _NO_SECRET, body, hashlib.sha256).hexdigest()
    matches = hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))
    return matches and secret is not None


def _payload(request: HttpRequest, body: bytes) -> dict:
    # GitHub sends JSON, or the same JSON in a "payload" form field when the hook's content
    # type is application/x-www-form-urlencoded.
    raw: bytes | str = body
    if request.content_type == "application/x-www-form-urlencoded":
        raw = request.POST.get("payload", "")
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Malformed("is not valid JSON", field="body") from None
    if not isinstance(payload, dict):
        raise Malformed("must be a JSON object", field="body")
    return payload


@csrf_exempt
def webhook(request: HttpRequest, org_slug: str) -> JsonResponse:
    if request.method != "POST":
        response = _error(405, f"method {request.method} not allowed: GitHub webhooks are POSTs", "method_not_allowed")
        response["Allow"] = "POST"
        return response
    try:
        body = request.body
    except RequestDataTooBig:
        return _error(413, "body: request body exceeds the configured maximum size", "payload_too_large")
    signature = request.headers.get(SIGNATURE_HEADER, "").strip()
    if not signature:
        return _error(401, f"{SIGNATURE_HEADER} header is missing: set a secret on the GitHub webhook", "bad_signature")
    org = Organization.objects.filter(slug=org_slug.lower()).first()
    if not _signature_matches(org, body, signature):
        return _error(401, BAD_SIGNATURE, "bad_signature")

    event = request.headers.get("X-GitHub-Event", "").strip()
    delivery = request.headers.get("X-GitHub-Delivery", "").strip()
    for header, value in (("X-GitHub-Event", event), ("X-GitHub-Delivery", delivery)):
        if not value or len(value) > 100:
            return _error(400, f"{header}: header is required (at most 100 characters)", "validation_error")
    try:
        payload = _payload(request, body)
    except Malformed as exc:
        return _error(400, str(exc), exc.code, exc.fields)

    if event == "ping":
        return JsonResponse({"ok": True, "note": f"pong: webhook accepted for organization {org.slug}"})
    handler = HANDLERS.get(event)
    if handler is None:
        return JsonResponse({"ok": True, "note": f"event '{event}' is not tracked; ignored"}, status=202)

    replay = JsonResponse({"ok": True, "note": f"delivery {delivery} was already processed; nothing changed"})
    if GitHubDelivery.objects.filter(organization=org, delivery_id=delivery).exists():
        return replay
    action = payload.get("action") if isinstance(payload.get("action"), str) else ""
    try:
        # The delivery row and what the event writes commit together: a delivery that failed
        # (a 400) is not remembered, so a redelivery after a fix is processed.
        with transaction.atomic():
            try:
                with transaction.atomic():
                    GitHubDelivery.objects.create(
                        organization=org, delivery_id=delivery, event=event[:100], action=action[:100]
                    )
            except IntegrityError:
                return replay  # the same delivery, processed concurrently
            result = handler(org, payload)
    except DomainError as exc:
        return _error(exc.status, str(exc), exc.code, {k: list(v) for k, v in exc.fields.items()})
    return JsonResponse({**result.body, "event": event, "delivery": delivery}, status=result.status)


urlpatterns = [
    path("<slug:org_slug>/", webhook, name="github-webhook"),
    # Without the slash too: APPEND_SLASH cannot redirect a POST.
    path("<slug:org_slug>", webhook),
]
