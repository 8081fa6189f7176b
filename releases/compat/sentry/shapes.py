"""Our rows in Sentry's JSON shapes (camelCase, dates with ``Z``), loaded in a fixed number of queries.

Field choices follow Sentry's serializers; ``sentry-cli.md`` lists the fields the CLI insists on.
"""

import re
from collections import defaultdict

from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery

from deployments.models import Deployment
from releases.compat.sentry.http import sentry_time
from releases.models import Commit, Project, Release, ReleaseCommit, ReleaseRef, Repository
from releases.selectors import release_list
from releasetracker.models import Organization

_HEX_SHA = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")

# Sentry names providers "integrations:<name>"; repositories registered without one are its
# "Unknown Provider".
_PROVIDERS = {"github": "GitHub", "gitlab": "GitLab", "bitbucket": "Bitbucket", "vsts": "Azure DevOps"}


def release_queryset(*, organization: Organization) -> QuerySet[Release]:
    """Releases with what every Sentry release object shows, newest first."""
    deploys = Deployment.objects.filter(release=OuterRef("pk"))
    first_commit = ReleaseCommit.objects.filter(release=OuterRef("pk")).order_by("position", "id")
    return (
        release_list(organization=organization)
        .annotate(
            deploy_count=Subquery(
                deploys.order_by().values("release").annotate(n=Count("id")).values("n"),
                output_field=IntegerField(),
            ),
            last_deploy_id=Subquery(deploys.order_by("-occurred_at", "-id").values("id")[:1]),
            first_commit_id=Subquery(first_commit.values("commit_id")[:1]),
        )
        .prefetch_related(Prefetch("refs", queryset=ReleaseRef.objects.order_by("id")))
    )


def short_version(version: str) -> str:
    """Sentry's ``shortVersion``: a package prefix dropped, a full sha cut to 12 characters."""
    _, _, rest = version.rpartition("@") if "@" in version[1:] else ("", "", version)
    return rest[:12] if _HEX_SHA.match(rest) else rest


def project_json(project: Project) -> dict:
    # Our projects have one name; Sentry's slug and name are both that name.
    return {
        "id": project.pk,
        "slug": project.name,
        "name": project.name,
        "newGroups": 0,
        "platform": None,
        "platforms": [],
        "hasHealthData": False,
    }


def repository_json(repo: Repository) -> dict:
    provider = (repo.provider or "").lower()
    return {
        "id": str(repo.pk),
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
        "id": str(deployment.pk),
        "environment": deployment.environment.name,
        "name": deployment.title or None,
        "url": deployment.url or None,
        "dateStarted": sentry_time(deployment.started_at),
        # Every Sentry deploy is finished; one still running here shows its metrics time.
        "dateFinished": sentry_time(deployment.finished_at or deployment.occurred_at),
    }


def releases_json(releases: list[Release], *, organization: Organization) -> list[dict]:
    """Release objects for rows of ``release_queryset``: a constant number of queries for any page."""
    if not releases:
        return []
    ids = [r.pk for r in releases]
    last_deploys = {
        d.pk: d
        for d in Deployment.objects.for_organization(organization)
        .filter(pk__in=[r.last_deploy_id for r in releases if r.last_deploy_id])
        .select_related("environment")
    }
    # The head commit is the ref's commit (what set-commits sent), else the first commit listed.
    head_shas = {r.pk: r.refs.all()[0].commit for r in releases if r.refs.all()}
    commit_rows = Commit.objects.for_organization(organization).select_related("repository")
    by_id = {c.pk: c for c in commit_rows.filter(pk__in=[r.first_commit_id for r in releases if r.first_commit_id])}
    by_sha = {c.sha: c for c in commit_rows.filter(sha__in=set(head_shas.values()))}
    authors: dict[int, list[dict]] = defaultdict(list)
    for row in (
        ReleaseCommit.objects.for_organization(organization)
        .filter(release_id__in=ids)
        .exclude(commit__author_name="", commit__author_email="")
        .values("release_id", "commit__author_name", "commit__author_email")
        .distinct()
        .order_by("release_id", "commit__author_name", "commit__author_email")
    ):
        authors[row["release_id"]].append(
            {"name": row["commit__author_name"] or None, "email": row["commit__author_email"] or None}
        )

    out = []
    for release in releases:
        head = by_sha.get(head_shas.get(release.pk, "")) or by_id.get(release.first_commit_id)
        if head is None and release.pk in head_shas:
            last_commit: dict | None = {"id": head_shas[release.pk]}
        else:
            last_commit = commit_json(head) if head is not None else None
        deploy = last_deploys.get(release.last_deploy_id)
        out.append(
            {
                "id": release.pk,
                "version": release.version,
                "shortVersion": short_version(release.version),
                "ref": release.ref or None,
                "url": release.url or None,
                "status": "open",
                "dateCreated": sentry_time(release.created_at),
                "dateReleased": sentry_time(release.date_released),
                "firstEvent": None,
                "lastEvent": None,
                "newGroups": 0,
                "commitCount": release.commit_count,
                "deployCount": release.deploy_count or 0,
                "lastDeploy": deploy_json(deploy) if deploy is not None else None,
                "lastCommit": last_commit,
                "authors": authors.get(release.pk, []),
                "owner": None,
                "data": {},
                "projects": [project_json(p) for p in release.projects_by_name],
            }
        )
    return out


def release_json(release: Release, *, organization: Organization) -> dict:
    return releases_json([release], organization=organization)[0]
