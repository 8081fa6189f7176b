"""Our rows in Sentry's JSON shapes (camelCase, dates with ``Z``).

Field choices follow Sentry's serializers; ``sentry-cli.md`` lists the fields the CLI insists on.
"""

import re
import uuid
from datetime import UTC, datetime

from deployments.models import Deployment
from deployments.selectors import ReleaseSummary
from releases.models import Commit, Project, Repository

_HEX_SHA = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")

# Sentry names providers "integrations:<name>"; repositories registered without one are its
# "Unknown Provider".
_PROVIDERS = {"github": "GitHub", "gitlab": "GitLab", "bitbucket": "Bitbucket", "vsts": "Azure DevOps"}


def sentry_id(public_id: uuid.UUID) -> int:
    """The ``id`` Sentry's JSON gives an object: a number drawn from the object's random UUID.

    Our primary keys are one sequence shared by every organization, so answering them would let
    a token holder count another tenant's releases and deploys in the gaps between its own ids.
    A number (not the UUID itself) keeps Sentry's types: an integer for a release, a numeric
    string elsewhere. The 48 bits ahead of the UUID's version digit and its last 5 bits are
    random; together they stay below 2**53, which JavaScript clients read exactly.
    """
    return (public_id.int >> 80) << 5 | (public_id.int & 0x1F)


def sentry_time(value: datetime | None) -> str | None:
    """UTC with a ``Z``: ``sentry-cli`` refuses dates without an offset."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def short_version(version: str) -> str:
    """Sentry's ``shortVersion``: a package prefix dropped, a full sha cut to 12 characters."""
    _, _, rest = version.rpartition("@") if "@" in version[1:] else ("", "", version)
    return rest[:12] if _HEX_SHA.match(rest) else rest


def project_json(project: Project) -> dict:
    # Our projects have one name; Sentry's slug and name are both that name.
    return {
        "id": sentry_id(project.public_id),
        "slug": project.name,
        "name": project.name,
        "newGroups": 0,
        "platform": None,
        "platforms": [],
        "hasHealthData": False,
    }


def repository_json(repo: Repository) -> dict:
    # ``set-commits --auto`` matches each repository with a provider to the git remote by its URL,
    # and stops with an error for all of them when one has no URL: a repository without a URL is
    # Sentry's "Unknown Provider", which the CLI skips.
    provider = (repo.provider or "").lower() if repo.url else ""
    return {
        "id": str(sentry_id(repo.public_id)),
        "name": repo.name,
        "url": repo.url or None,
        "provider": (
            {"id": f"integrations:{provider}", "name": _PROVIDERS.get(provider, repo.provider)}
            if provider
            else {"id": "unknown", "name": "Unknown Provider"}
        ),
        "status": "active",
        "dateCreated": sentry_time(repo.created_at),
        "integrationId": None,
        "externalSlug": None,
    }


def _author(commit: Commit) -> dict | None:
    if not (commit.author_name or commit.author_email):
        return None
    return {"name": commit.author_name or None, "email": commit.author_email or None}


def commit_json(commit: Commit) -> dict:
    data = {
        "id": commit.sha,
        "message": commit.message or None,
        # Sentry's dateCreated is the commit's own time; a bare sha only has the time we saw it.
        "dateCreated": sentry_time(commit.timestamp or commit.created_at),
        "author": _author(commit),
        "pullRequest": None,
        "suspectCommitType": "",
    }
    if commit.repository_id is not None:
        data["repository"] = repository_json(commit.repository)
    return data


def deploy_json(deployment: Deployment) -> dict:
    return {
        "id": str(sentry_id(deployment.public_id)),
        "environment": deployment.environment.name,
        "name": deployment.title or None,
        "url": deployment.url or None,
        "dateStarted": sentry_time(deployment.started_at),
        # Every Sentry deploy is finished; one still running here shows its metrics time.
        "dateFinished": sentry_time(deployment.finished_at or deployment.occurred_at),
    }


def _last_commit(summary: ReleaseSummary) -> dict | None:
    if summary.head_commit is not None:
        return commit_json(summary.head_commit)
    # A ref's head commit that no commit row has: Sentry still shows its sha.
    return {"id": summary.head_sha} if summary.head_sha else None


def release_json(summary: ReleaseSummary) -> dict:
    release, deploy = summary.release, summary.latest_deployment
    return {
        "id": sentry_id(release.public_id),
        "version": release.version,
        "shortVersion": short_version(release.version),
        "ref": release.ref or None,
        "url": release.url or None,
        "status": "archived" if release.archived_at is not None else "open",
        "dateCreated": sentry_time(release.created_at),
        "dateReleased": sentry_time(release.date_released),
        "firstEvent": None,
        "lastEvent": None,
        "newGroups": 0,
        "commitCount": release.commit_count,
        "deployCount": summary.deploy_count,
        "lastDeploy": deploy_json(deploy) if deploy is not None else None,
        "lastCommit": _last_commit(summary),
        "authors": [{"name": name or None, "email": email or None} for name, email in summary.authors],
        "owner": None,
        "data": {},
        "projects": [project_json(p) for p in release.projects_by_name],
    }
