"""GitHub's webhook events, each translated to one service call (the endpoint is ``integrations.github``).

``deployment`` and ``deployment_status`` become a deployment (GitHub's deployment id is its
``external_id``, so later statuses find it) and its status history; ``release`` (``published``)
a release whose version is the tag name; ``push`` to the default branch its commits, so lead time
measures from the real commit time. A payload that lacks what its event needs is a 400 naming
the JSON path at fault.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from deployments.models import DeploymentStatus
from deployments.services import HISTORY_ADDED, RECORDED, UNCHANGED, deployment_status_report
from integrations.base import invalid
from releases.models import Source
from releases.services import MAX_COMMITS_PER_REQUEST, CommitInput, release_publish, repository_commits_record
from releasetracker.models import Organization

CREATED_BY = "GitHub webhook"
# GitHub deployment states -> ours. "inactive" is missing on purpose: GitHub sets it on the
# previous deployment when a newer one succeeds, which says nothing about how that one went.
# "waiting" (held by an environment's protection rules until someone approves it) is queued:
# accepted and not yet running, as GitHub's own "queued" is; as "pending" it would merge into
# the deployment's first status and the history would lose when the wait began.
STATES = {
    "pending": DeploymentStatus.PENDING,
    "queued": DeploymentStatus.QUEUED,
    "waiting": DeploymentStatus.QUEUED,
    "in_progress": DeploymentStatus.IN_PROGRESS,
    "success": DeploymentStatus.SUCCESS,
    "failure": DeploymentStatus.FAILURE,
    "error": DeploymentStatus.FAILURE,
}
# Where a status's log is, best first: it becomes the deployment's url.
URL_KEYS = ("log_url", "target_url", "environment_url")


@dataclass
class Result:
    """What a handler did: its status (200 done, 202 ignored), a note for GitHub's log, details."""

    note: str
    status: int = 200
    details: dict = field(default_factory=dict)


# Payload access: each getter names the JSON path at fault -------------------------------------


def _obj(data: dict, key: str, path: str) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise invalid(path, "must be an object")
    return value


def _str(data: dict, key: str, path: str, *, required: bool = True) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid(path, "must be a non-empty string" if required else "must be a string")
    if "\x00" in value:
        # Named by its JSON path here: the service would name its own field (``version``).
        raise invalid(path, "must not contain NUL characters")
    return value.strip()


def _int(data: dict, key: str, path: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(path, "must be a whole number")
    return value


def _time(data: dict, key: str, path: str) -> datetime | None:
    value = data.get(key)
    if value in (None, ""):
        return None
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well formed, but no such date
        parsed = None
    if parsed is None or timezone.is_naive(parsed):
        raise invalid(path, "must be an ISO 8601 date-time with a timezone")
    return parsed


def _login(data: dict, key: str) -> str:
    user = data.get(key)
    if isinstance(user, dict) and isinstance(user.get("login"), str):
        return user["login"]
    return ""


# Events ----------------------------------------------------------------------------------------


def _deployment_fields(payload: dict) -> dict:
    """The ``deployment_status_report`` arguments of the deployment and deployment_status events
    that describe the deployment itself (both events carry it whole)."""
    deployment = _obj(payload, "deployment", "deployment")
    repository = _obj(payload, "repository", "repository")
    ref = _str(deployment, "ref", "deployment.ref", required=False)
    sha = _str(deployment, "sha", "deployment.sha")
    environment = _str(deployment, "environment", "deployment.environment")
    external_id = str(_int(deployment, "id", "deployment.id"))
    title = _str(deployment, "description", "deployment.description", required=False)
    if not title:
        title = f"{_str(deployment, 'task', 'deployment.task', required=False) or 'deploy'} {ref or sha[:12]}"
    return {
        "environment": environment,
        "ref": ref,
        "commit_sha": sha,
        "external_id": external_id,
        "triggered_by": _login(deployment, "creator"),
        "title": title,
        "project": _str(repository, "name", "repository.name", required=False),
        "repository": _str(repository, "full_name", "repository.full_name", required=False),
        "repository_url": _str(repository, "html_url", "repository.html_url", required=False),
        "created_at": _time(deployment, "created_at", "deployment.created_at"),
        "source": Source.GITHUB,
        "created_by": CREATED_BY,
    }


def deployment(organization: Organization, payload: dict) -> Result:
    fields = _deployment_fields(payload)
    # The deployment's first status, pending, dated when GitHub created it.
    reported, done = deployment_status_report(
        organization=organization, status=DeploymentStatus.PENDING, at=fields["created_at"], **fields
    )
    if done == RECORDED:
        note = "deployment recorded"
    elif done == HISTORY_ADDED:
        note = f"deployment already recorded ({reported.status}); its creation is added to its history"
    else:  # a repeat, or a status delivered first already recorded it
        note = f"deployment already recorded ({reported.status}); nothing changed"
    return Result(note, details={"deployment": str(reported.public_id)})


def deployment_status(organization: Organization, payload: dict) -> Result:
    fields = _deployment_fields(payload)
    status_data = _obj(payload, "deployment_status", "deployment_status")
    state = _str(status_data, "state", "deployment_status.state")
    if state == "inactive":
        return Result("state 'inactive' (superseded by a newer deployment) ignored: the outcome is kept", status=202)
    if state not in STATES:
        raise invalid("deployment_status.state", f"'{state}' is not a GitHub deployment state")
    status = STATES[state]
    at = _time(status_data, "created_at", "deployment_status.created_at")
    urls = (_str(status_data, key, f"deployment_status.{key}", required=False) for key in URL_KEYS)
    reported, done = deployment_status_report(
        organization=organization, status=status, at=at, url=next((url for url in urls if url), ""), **fields
    )
    if done == RECORDED:
        note = f"deployment recorded as {status}"
    elif done == HISTORY_ADDED:  # a late delivery: the deployment has moved on since
        note = f"state '{state}' predates the deployment's status ({reported.status}): added to its history only"
    elif done == UNCHANGED:
        note = f"state '{state}' is already in the deployment's history; nothing changed"
    else:
        note = f"deployment status set to {status}"
    return Result(note, details={"deployment": str(reported.public_id)})


def release(organization: Organization, payload: dict) -> Result:
    action = _str(payload, "action", "action")
    if action != "published":
        return Result(f"release action '{action}' ignored: only 'published' is tracked", status=202)
    data = _obj(payload, "release", "release")
    repository = _obj(payload, "repository", "repository")
    version = _str(data, "tag_name", "release.tag_name")
    published, created, filled = release_publish(
        organization=organization,
        version=version,
        url=_str(data, "html_url", "release.html_url", required=False),
        date_released=_time(data, "published_at", "release.published_at"),
        name=_str(data, "name", "release.name", required=False),
        ref=_str(data, "target_commitish", "release.target_commitish", required=False),
        project=_str(repository, "name", "repository.name"),
        source=Source.GITHUB,
        created_by=f"{CREATED_BY} ({_login(payload, 'sender') or 'unknown sender'})",
    )
    if created:
        note = "release recorded"
    else:  # already reported (by CI, usually): kept, with only what it lacked filled in
        note = f"release already recorded; filled in {', '.join(filled)}" if filled else "release already recorded"
    return Result(note, details={"release": str(published.public_id), "version": version})


def push(organization: Organization, payload: dict) -> Result:
    ref = _str(payload, "ref", "ref")
    repository = _obj(payload, "repository", "repository")
    default_branch = _str(repository, "default_branch", "repository.default_branch")
    if ref != f"refs/heads/{default_branch}":
        return Result(f"push to {ref} ignored: only the default branch ({default_branch}) is tracked", status=202)
    if payload.get("deleted") is True:
        return Result("branch deletion ignored", status=202)
    commits = payload.get("commits")
    if not isinstance(commits, list):
        raise invalid("commits", "must be a list")
    if len(commits) > MAX_COMMITS_PER_REQUEST:
        raise invalid("commits", f"at most {MAX_COMMITS_PER_REQUEST} per push")
    full_name = _str(repository, "full_name", "repository.full_name")
    inputs = []
    for index, commit in enumerate(commits):
        if not isinstance(commit, dict):
            raise invalid(f"commits.{index}", "must be an object")
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
    stored = repository_commits_record(
        organization=organization,
        repository=full_name,
        url=_str(repository, "html_url", "repository.html_url", required=False),
        provider="github",
        commits=inputs,
    )
    return Result(f"{len(stored)} commit(s) recorded", details={"commits": len(stored)})


# Event name -> handler; any other event is acknowledged and ignored.
HANDLERS = {"deployment": deployment, "deployment_status": deployment_status, "release": release, "push": push}
