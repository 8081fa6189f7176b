"""Reads of releases, scoped by organization, with the prefetches their callers render."""

from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce

from releases.models import Commit, Project, Release, ReleaseCommit, Repository
from releasetracker.models import Organization

_commit_counts = (
    ReleaseCommit.objects.filter(release_id=OuterRef("pk"))
    .order_by()
    .values("release_id")
    .annotate(count=Count("id"))
    .values("count")
)


def release_list(*, organization: Organization) -> QuerySet[Release]:
    """Releases newest first, with project names and commit counts in a fixed number of queries."""
    return (
        Release.objects.for_organization(organization)
        # The stored create payload (every commit sha of the create call) only serves the
        # idempotency check of a repeated create: not read, nor decoded, row by row here.
        .defer("create_payload")
        # A per-row subquery, not JOIN + GROUP BY: the page's LIMIT then reads only its rows through
        # releases_release_org_created, and the paginator's COUNT needs no join (bench/pages.py:
        # the GROUP BY aggregated every release of the organization on each page view).
        .annotate(commit_count=Coalesce(Subquery(_commit_counts, output_field=IntegerField()), 0))
        # Into a list per row (Release.projects_by_name), not into each row's manager.
        .prefetch_related(
            Prefetch(
                "projects",
                queryset=Project.objects.only("name").order_by("name"),
                to_attr=Release.PROJECTS_LOADED,
            )
        )
        .order_by("-created_at", "-id")
    )


def commit_list(*, organization: Organization) -> QuerySet[Commit]:
    return Commit.objects.for_organization(organization).select_related("repository").order_by("-created_at", "-id")


def project_list(*, organization: Organization) -> QuerySet[Project]:
    return Project.objects.for_organization(organization).order_by("name")


def repository_list(*, organization: Organization) -> QuerySet[Repository]:
    return Repository.objects.for_organization(organization).order_by("name")


# Incoming integrations ---------------------------------------------------------------------


def organization_get(*, slug: str) -> Organization | None:
    """The organization a URL or a command names by its slug (slugs are stored in lower case)."""
    return Organization.objects.filter(slug=slug.strip().lower()).first()


def release_candidate_get(*, organization: Organization, project: str, version: str) -> Release | None:
    """Release candidate ``version`` of ``project`` (Aviator's candidates belong to a project)."""
    return (
        Release.objects.for_organization(organization)
        .filter(version=version, projects__name=project)
        .defer("create_payload")
        .first()
    )
