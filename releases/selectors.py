"""Reads of releases, scoped by organization, with the prefetches their callers render."""

import uuid
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from releases.models import Commit, Project, Release, ReleaseCommit, ReleaseProject, ReleaseRef, Repository
from releasetracker.errors import DomainError, NotFound
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


# Compare ----------------------------------------------------------------------------------------
#
# Releases are ordered by (created_at, id), the order the tracker recorded them in: every release
# has both (``date_released`` is often unset), and the timeline, the previous-release lookup and
# the commits a deployment ships use the same order.

# A compare lists at most this many commits (newest first) and releases (nearest the head);
# ``ahead_by`` and ``release_count`` count them all.
COMPARE_COMMIT_LIMIT = 250
COMPARE_RELEASE_LIMIT = 100


def _release_key(release: Release) -> tuple:
    return (release.created_at, release.pk)


def _of_projects(project_ids: list[int], release_ref: str = "pk") -> Exists:
    return Exists(ReleaseProject.objects.filter(release_id=OuterRef(release_ref), project_id__in=project_ids))


def release_range(
    *, organization: Organization, base: Release, head: Release, project_ids: list[int] | None = None
) -> QuerySet[Release]:
    """The releases after ``base`` up to and including ``head``, of ``project_ids`` when given
    (``head`` only when it is of them: ``release_range_ids`` adds it whatever its projects): a
    range of the (organization, created_at) index, then the ties at either end."""
    releases = (
        Release.objects.for_organization(organization)
        .filter(created_at__gte=base.created_at, created_at__lte=head.created_at)
        .exclude(created_at=base.created_at, pk__lte=base.pk)
        .exclude(created_at=head.created_at, pk__gt=head.pk)
    )
    return releases.filter(_of_projects(project_ids)) if project_ids else releases


def release_range_ids(
    *, organization: Organization, base: Release, head: Release, project_ids: list[int] | None = None
) -> QuerySet:
    """The ids of ``release_range`` and of ``head`` whatever its projects (when it is after
    ``base``), for ``__in``. A UNION rather than an OR: PostgreSQL answers an OR with a project's
    releases hashed whole, every release of its history."""
    in_range = release_range(organization=organization, base=base, head=head, project_ids=project_ids)
    ids = in_range.order_by().values("pk")
    if not project_ids:
        return ids
    head_in_range = release_range(organization=organization, base=base, head=head).filter(pk=head.pk)
    return ids.union(head_in_range.order_by().values("pk"))


def release_commits_between(
    *, organization: Organization, base: Release, head: Release, project_ids: list[int] | None = None
) -> QuerySet[Commit]:
    """The commits ``head`` brings over ``base``: those of the releases after ``base`` up to
    ``head`` (``release_range_ids``), each once, less those ``base`` or an earlier release (of
    ``project_ids``, when given) already listed. Unordered: callers count or order it."""
    shipped = ReleaseCommit.objects.for_organization(organization).filter(
        release_id__in=release_range_ids(organization=organization, base=base, head=head, project_ids=project_ids)
    )
    earlier = (
        ReleaseCommit.objects.for_organization(organization)
        .filter(commit_id=OuterRef("pk"), release__created_at__lte=base.created_at)
        .exclude(release__created_at=base.created_at, release_id__gt=base.pk)
    )
    # Driven by the shipped rows' commit ids (a primary-key lookup each), never by the
    # organization's whole commit table.
    commits = Commit.objects.for_organization(organization).filter(pk__in=shipped.values("commit_id"))
    if project_ids:
        earlier = earlier.filter(_of_projects(project_ids, "release_id"))
        # The base's own commits, whatever its projects: a separate test, since an OR inside
        # ``earlier`` would make the planner read every earlier release's commits.
        in_base = ReleaseCommit.objects.for_organization(organization).filter(release=base, commit_id=OuterRef("pk"))
        commits = commits.exclude(Exists(in_base))
    return commits.exclude(Exists(earlier))


@dataclass(frozen=True)
class ComparedCommit:
    commit: Commit
    # The releases of the compared range that list it, oldest first (the first is where it came in).
    releases: list[Release]


@dataclass(frozen=True)
class ReleaseComparison:
    """What ``head`` brings over ``base`` (``release_compare``)."""

    base: Release
    head: Release
    # The projects the compare ran over; empty when neither release has a project (then every
    # release of the organization counts).
    projects: list[Project]
    # "ahead" (head is after base), "behind" (head is before base) or "identical".
    status: str
    # Commits head brings over base; behind_by: those base brings over head (head is older).
    ahead_by: int
    behind_by: int
    # Newest first (commit time, then as recorded), at most the limit asked for.
    commits: list[ComparedCommit]
    # The releases after base up to head, oldest first: at most COMPARE_RELEASE_LIMIT, the
    # ones nearest the head; release_count counts them all.
    releases: list[Release]
    release_count: int

    @property
    def truncated(self) -> bool:
        return self.ahead_by > len(self.commits)


def compare_projects(*, base: Release, head: Release, project: Project | None) -> list[Project]:
    """The projects a compare of ``base`` and ``head`` runs over: ``project`` when named, else the
    projects the two share (a release without projects shares the other's). Two releases of
    different projects are a 400 naming ``project``."""
    if project is not None:
        return [project]
    base_projects, head_projects = base.projects_by_name, head.projects_by_name
    if not base_projects or not head_projects:
        return base_projects or head_projects
    head_ids = {p.pk for p in head_projects}
    shared = [p for p in base_projects if p.pk in head_ids]
    if not shared:
        names = lambda projects: ", ".join(p.name for p in projects)  # noqa: E731
        raise DomainError(
            f"{base.version} ({names(base_projects)}) and {head.version} ({names(head_projects)}) belong to "
            "different projects: name the project to compare them in",
            field="project",
        )
    return shared


def release_compare(
    *,
    organization: Organization,
    base: Release,
    head: Release,
    project: Project | None = None,
    limit: int = COMPARE_COMMIT_LIMIT,
) -> ReleaseComparison:
    """The commits ``head`` brings over ``base`` within their project (``compare_projects``), with
    the releases each came in, and the releases between them.

    ``base`` and ``head`` are rows of ``release_list`` (their projects loaded). A head older than
    its base brings nothing (``ahead_by`` 0); ``behind_by`` then counts what the base brings over
    it. Five queries whatever the history: a count, the commits, their releases, the releases in
    range and their count.
    """
    projects = compare_projects(base=base, head=head, project=project)
    project_ids = [p.pk for p in projects]
    if base.pk == head.pk:
        return ReleaseComparison(base, head, projects, "identical", 0, 0, [], [], 0)
    if _release_key(head) < _release_key(base):
        behind = release_commits_between(organization=organization, base=head, head=base, project_ids=project_ids)
        return ReleaseComparison(base, head, projects, "behind", 0, behind.count(), [], [], 0)

    between = release_commits_between(organization=organization, base=base, head=head, project_ids=project_ids)
    ahead_by = between.count()
    listed = (
        list(between.select_related("repository").order_by(F("timestamp").desc(nulls_last=True), "-id")[:limit])
        if ahead_by
        else []
    )
    range_ids = release_range_ids(organization=organization, base=base, head=head, project_ids=project_ids)
    came_in: dict[int, list[Release]] = defaultdict(list)
    if listed:
        for link in (
            ReleaseCommit.objects.for_organization(organization)
            .filter(commit_id__in=[c.pk for c in listed], release_id__in=range_ids)
            .select_related("release")
            .only("commit_id", "release__version", "release__public_id", "release__created_at")
            .order_by("release__created_at", "release_id")
        ):
            came_in[link.commit_id].append(link.release)
    in_range = release_range(organization=organization, base=base, head=head, project_ids=project_ids)
    release_count = in_range.count()
    nearest = list(in_range.defer("create_payload").order_by("-created_at", "-id")[:COMPARE_RELEASE_LIMIT])
    if project_ids and not {p.pk for p in head.projects_by_name} & set(project_ids):
        # The head counts whatever its projects (the range holds only the projects' releases).
        release_count += 1
        nearest = [head, *nearest[: COMPARE_RELEASE_LIMIT - 1]]
    return ReleaseComparison(
        base=base,
        head=head,
        projects=projects,
        status="ahead",
        ahead_by=ahead_by,
        behind_by=0,
        commits=[ComparedCommit(commit, came_in[commit.pk]) for commit in listed],
        releases=nearest[::-1],
        release_count=release_count,
    )


def release_pair_get(
    *, organization: Organization, versions: dict[str, str], project: Project | None = None
) -> dict[str, Release]:
    """The releases ``versions`` names ({field: version}), as ``release_list`` reads them, in one
    query. An unknown version (or another organization's, or, with ``project``, one not of that
    project) is a 404 naming its field."""
    wanted = {version for version in versions.values() if version}
    found = {
        release.version: release
        for release in release_search(organization=organization, project=project).filter(version__in=wanted)
    }
    where = f" of project {project.name}" if project is not None else ""
    missing = {field: [f"no release {version!r}{where}"] for field, version in versions.items() if version not in found}
    if missing:
        field, [message] = next(iter(missing.items()))
        raise NotFound(message, field=field, fields=missing)
    return {field: found[version] for field, version in versions.items()}


def release_previous(*, organization: Organization, release: Release) -> Release | None:
    """The release recorded just before ``release`` that shares one of its projects (any release
    when it has none), its version and id only: what "compare with the previous release" names."""
    earlier = (
        Release.objects.for_organization(organization)
        .filter(Q(created_at__lt=release.created_at) | Q(created_at=release.created_at, pk__lt=release.pk))
        .only("version", "public_id", "created_at")
    )
    project_ids = [p.pk for p in release.projects_by_name]
    if project_ids:
        earlier = earlier.filter(_of_projects(project_ids))
    return earlier.order_by("-created_at", "-id").first()
