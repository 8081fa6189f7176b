"""Reads of releases, scoped by organization, with the prefetches their callers render."""

from django.db.models import Count, Prefetch, QuerySet

from releases.models import Commit, Project, Release, ReleaseCommit, Repository
from releasetracker.models import Organization


def release_list(*, organization: Organization) -> QuerySet[Release]:
    """Releases newest first, with project names and commit counts in a fixed number of queries."""
    return (
        Release.objects.for_organization(organization)
        .annotate(commit_count=Count("release_commits", distinct=True))
        .prefetch_related(Prefetch("projects", queryset=Project.objects.order_by("name")))
        .order_by("-created_at", "-id")
    )


def release_detail(*, organization: Organization) -> QuerySet[Release]:
    """Releases with everything their detail view shows: commits, refs, deployments and history."""
    from deployments.models import Deployment

    return release_list(organization=organization).prefetch_related(
        Prefetch(
            "release_commits",
            queryset=ReleaseCommit.objects.select_related("commit__repository").order_by("position", "id"),
        ),
        "refs__repository",
        Prefetch(
            "deployments",
            queryset=Deployment.objects.select_related("environment", "release", "project")
            .prefetch_related("status_changes")
            .order_by("-occurred_at", "-id"),
        ),
    )


def release_get(*, organization: Organization, key: str) -> Release | None:
    """A release by public id or by version (pages accept either)."""
    import uuid

    queryset = release_detail(organization=organization)
    try:
        return queryset.filter(public_id=uuid.UUID(str(key))).first()
    except ValueError:
        return queryset.filter(version=key).first()


def commit_list(*, organization: Organization) -> QuerySet[Commit]:
    return Commit.objects.for_organization(organization).select_related("repository").order_by("-created_at", "-id")


def project_list(*, organization: Organization) -> QuerySet[Project]:
    return Project.objects.for_organization(organization).order_by("name")


def repository_list(*, organization: Organization) -> QuerySet[Repository]:
    return Repository.objects.for_organization(organization).order_by("name")
