"""Reads of releases, scoped by organization, with the prefetches their callers render."""

import uuid

from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from releases.models import Commit, Project, Release, ReleaseCommit, ReleaseProject, ReleaseRef, Repository
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
        # releases_release_org_created, and the paginator's COUNT needs no join (a GROUP BY would
        # aggregate every release of the organization on each page view).
        .annotate(commit_count=Coalesce(Subquery(_commit_counts, output_field=IntegerField()), 0))
        # Into a list per row (Release.projects_by_name), not into each row's manager.
        .prefetch_related(
            Prefetch(
                "projects",
                queryset=Project.objects.only("name", "public_id").order_by("name"),
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


def project_get(*, organization: Organization, name: str) -> Project | None:
    return project_list(organization=organization).filter(name=name).first()


def repository_get(*, organization: Organization, name: str) -> Repository | None:
    return repository_list(organization=organization).filter(name=name).first()


# Lookups by name, for the vendor APIs that name releases, projects and repositories ----------


def project_get_by_name(*, organization: Organization, name: str) -> Project | None:
    return project_list(organization=organization).filter(name=name).first()


def release_search(
    *, organization: Organization, project: Project | None = None, query: str = "", archived: bool | None = None
) -> QuerySet[Release]:
    """``release_list``, only the releases of ``project``, whose version contains ``query`` and that
    are archived or not (``archived``) when given."""
    releases = release_list(organization=organization)
    if archived is not None:
        releases = releases.filter(archived_at__isnull=not archived)
    if project is not None:
        releases = releases.filter(Exists(ReleaseProject.objects.filter(release=OuterRef("pk"), project=project)))
    if query:
        releases = releases.filter(version__icontains=query)
    return releases


def release_get_by_version(
    *, organization: Organization, version: str, project: Project | None = None
) -> Release | None:
    """A release as ``release_list`` reads it; with ``project``, only if it is one of that project's."""
    return release_search(organization=organization, project=project).filter(version=version).first()


def release_previous_with_commits(*, organization: Organization, release: Release) -> Release | None:
    """The newest release created before ``release`` that has commits or refs and, when ``release``
    has projects, shares one of them (what a new release's commits are counted from)."""
    earlier = release_list(organization=organization).filter(
        Q(created_at__lt=release.created_at) | Q(created_at=release.created_at, pk__lt=release.pk),
        Exists(ReleaseCommit.objects.filter(release=OuterRef("pk")))
        | Exists(ReleaseRef.objects.filter(release=OuterRef("pk"))),
    )
    project_ids = [p.pk for p in release.projects_by_name]
    if project_ids:
        earlier = earlier.filter(
            Exists(ReleaseProject.objects.filter(release=OuterRef("pk"), project_id__in=project_ids))
        )
    return earlier.first()


def release_commit_list(*, organization: Organization, release: Release) -> QuerySet[ReleaseCommit]:
    """A release's commits in the order they were sent, each with its commit and repository."""
    return (
        ReleaseCommit.objects.for_organization(organization)
        .filter(release=release)
        .select_related("commit__repository")
        .order_by("position", "id")
    )


def repository_search(*, organization: Organization, query: str = "") -> QuerySet[Repository]:
    """Repositories by name (then id, a stable order for pages), those whose name contains ``query`` when given."""
    repositories = Repository.objects.for_organization(organization).order_by("name", "id")
    return repositories.filter(name__icontains=query) if query else repositories


# Incoming integrations ---------------------------------------------------------------------


def release_candidate_get(*, organization: Organization, project: str, version: str) -> Release | None:
    """Release candidate ``version`` of ``project`` (Aviator's candidates belong to a project): the
    release ``<project>@<version>`` (``Release.candidate_key``), else a release ``version`` of the
    project recorded by another entry point, or cut before candidates were keyed by project."""
    releases = Release.objects.for_organization(organization).defer("create_payload")
    keyed = releases.filter(version=Release.candidate_key(project, version)).first()
    return keyed or releases.filter(version=version, projects__name=project).first()


def release_get_by_public_id(*, organization: Organization, public_id) -> Release | None:
    """A release by the id the API and the outgoing webhooks show; None for a malformed id, as
    for another organization's (a vendor's workflow echoes back an id it was sent)."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return Release.objects.for_organization(organization).defer("create_payload").filter(public_id=key).first()
