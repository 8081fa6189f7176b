"""Reads of environments and deployments, and of releases with their deployments, scoped by organization."""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber

from deployments.models import Deployment, DeploymentStatus, DeploymentStatusChange, Environment
from releases.models import Commit, Project, Release, ReleaseCommit, ReleaseProject, ReleaseRef
from releases.selectors import (
    COMPARE_COMMIT_LIMIT,
    ReleaseComparison,
    commit_list,
    project_get,
    project_list,
    release_commits_between,
    release_compare,
    release_list,
    release_pair_get,
)
from releasetracker.errors import DomainError, NotFound
from releasetracker.models import Organization


def deployment_list(*, organization: Organization) -> QuerySet[Deployment]:
    return (
        Deployment.objects.for_organization(organization)
        .select_related("environment", "release", "project")
        .prefetch_related(history_prefetch())
    )


def history_prefetch(lookup: str = "status_changes") -> Prefetch:
    """Each deployment's status changes, in time order, into ``Deployment.history``."""
    return Prefetch(
        lookup, queryset=DeploymentStatusChange.objects.order_by("at", "id"), to_attr=Deployment.HISTORY_LOADED
    )


def environment_list(*, organization: Organization) -> QuerySet[Environment]:
    return Environment.objects.for_organization(organization)


def release_detail(*, organization: Organization) -> QuerySet[Release]:
    """Releases with everything their detail view shows: commits, refs, deployments and history."""
    return release_list(organization=organization).prefetch_related(
        Prefetch(
            "release_commits",
            queryset=ReleaseCommit.objects.select_related("commit__repository").order_by("position", "id"),
            to_attr=Release.COMMIT_LINKS_LOADED,
        ),
        Prefetch("refs", queryset=ReleaseRef.objects.select_related("repository"), to_attr=Release.REFS_LOADED),
        Prefetch(
            "deployments",
            queryset=Deployment.objects.select_related("environment", "release", "project")
            .prefetch_related(history_prefetch())
            .order_by("-occurred_at", "-id"),
            to_attr=Release.DEPLOYMENTS_LOADED,
        ),
    )


def release_get(*, organization: Organization, key: str) -> Release | None:
    """A release by public id or by version (pages accept either)."""
    queryset = release_detail(organization=organization)
    try:
        return queryset.filter(public_id=uuid.UUID(str(key))).first()
    except ValueError:
        return queryset.filter(version=key).first()


def deployment_latest_production(*, organization: Organization, release: Release) -> Deployment | None:
    """The release's latest deployment to a production environment, with its environment."""
    return (
        Deployment.objects.for_organization(organization)
        .filter(release=release, environment__is_production=True)
        .select_related("environment")
        .order_by("-occurred_at", "-id")
        .first()
    )


def release_get_by_id(*, organization: Organization, public_id: str) -> Release | None:
    """A release by its public id, with what its detail shows; None for a malformed id, as for
    an id of another organization's release (vendor APIs whose ids are ids, never versions)."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return release_detail(organization=organization).filter(public_id=key).first()


def release_latest_deployments(*, organization: Organization, release_ids: list[int]) -> dict[int, list[Deployment]]:
    """The latest deployment of each release to each environment, in one query whatever the count.

    A window function ranks each (release, environment) pair's deployments newest first, and
    only the first of each is read, so a release deployed 500 times costs one row per environment.
    """
    if not release_ids:
        return {}
    ranked = (
        Deployment.objects.for_organization(organization)
        .filter(release_id__in=release_ids)
        .select_related("environment")
        .only(
            "release_id", "status", "occurred_at", "is_rollback", "rollback_detected", "is_hotfix", "environment__name"
        )
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("release_id"), F("environment_id")],
                order_by=[F("occurred_at").desc(), F("id").desc()],
            )
        )
        .filter(rank=1)
        .order_by("-environment__is_production", "environment__name")
    )
    chips: dict[int, list[Deployment]] = defaultdict(list)
    for deployment in ranked:
        chips[deployment.release_id].append(deployment)
    return chips


def _latest_status_is(status: str, environment: str | None) -> Exists:
    """Releases whose latest deployment (to ``environment``, or to any environment) has ``status``."""
    later = Deployment.objects.filter(
        organization_id=OuterRef("organization_id"),
        release_id=OuterRef("release_id"),
        environment_id=OuterRef("environment_id"),
    ).filter(Q(occurred_at__gt=OuterRef("occurred_at")) | Q(occurred_at=OuterRef("occurred_at"), id__gt=OuterRef("id")))
    candidates = Deployment.objects.filter(
        organization_id=OuterRef("organization_id"), release_id=OuterRef("pk"), status=status
    )
    if environment:
        candidates = candidates.filter(environment__name=environment)
    return Exists(candidates.filter(~Exists(later)))


def release_timeline(
    *,
    organization: Organization,
    q: str = "",
    project: str = "",
    environment: str = "",
    status: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Release]:
    """The timeline's releases, newest first: by version or name, project, environment (deployed
    there), latest deployment status (there, or anywhere) and creation time in ``[since, until)``."""
    queryset = release_list(organization=organization)
    if q:
        queryset = queryset.filter(Q(version__icontains=q) | Q(name__icontains=q))
    if project:
        queryset = queryset.filter(projects__name=project)
    if environment and not status:
        queryset = queryset.filter(
            Exists(
                Deployment.objects.filter(
                    organization=organization, release_id=OuterRef("pk"), environment__name=environment
                )
            )
        )
    if status:
        queryset = queryset.filter(_latest_status_is(status, environment))
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    return queryset


def release_deployment_list(*, organization: Organization, release: Release) -> QuerySet[Deployment]:
    """A release's deployments, latest first, each with its environment."""
    return (
        Deployment.objects.for_organization(organization)
        .filter(release=release)
        .select_related("environment")
        .order_by("-occurred_at", "-id")
    )


# Release summaries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseSummary:
    """A release (a row of ``release_list``) with what a one-line summary of it shows (Sentry's
    release objects): its deployments, its head commit and the authors of its commits.

    ``head_commit`` is the commit its first ref names (what ``set-commits`` sent) when the
    organization has that commit, else the release's first commit; ``head_sha`` is that ref's sha
    even when no commit row has it.
    """

    release: Release
    deploy_count: int = 0
    latest_deployment: Deployment | None = None
    head_commit: Commit | None = None
    head_sha: str = ""
    authors: list[tuple[str, str]] = field(default_factory=list)


def _first_in_each_release(queryset: QuerySet, *order_by) -> QuerySet:
    """The first row of ``queryset`` per release in ``order_by``'s order."""
    rank = Window(RowNumber(), partition_by=[F("release_id")], order_by=list(order_by))
    return queryset.annotate(rank_in_release=rank).filter(rank_in_release=1)


def release_summaries(*, organization: Organization, releases: Sequence[Release]) -> list[ReleaseSummary]:
    """Summaries of ``releases`` (rows of ``release_list``: a page, or one release), in their order,
    in the same number of queries whatever their number and size."""
    if not releases:
        return []
    ids = [release.pk for release in releases]
    latest = {
        deployment.release_id: deployment
        for deployment in _first_in_each_release(
            Deployment.objects.for_organization(organization)
            .filter(release_id__in=ids)
            .annotate(deploy_count=Window(Count("id"), partition_by=[F("release_id")]))
            .select_related("environment"),
            F("occurred_at").desc(),
            F("id").desc(),
        )
    }
    first_commits = {
        link.release_id: link.commit
        for link in _first_in_each_release(
            ReleaseCommit.objects.for_organization(organization).filter(release_id__in=ids), F("position"), F("id")
        ).select_related("commit__repository")
    }
    ref_shas: dict[int, str] = {}
    for ref in ReleaseRef.objects.for_organization(organization).filter(release_id__in=ids).order_by("id"):
        ref_shas.setdefault(ref.release_id, ref.commit)
    by_sha = {}
    if ref_shas:
        by_sha = {c.sha: c for c in commit_list(organization=organization).filter(sha__in=set(ref_shas.values()))}
    authors: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for release_id, name, email in (
        ReleaseCommit.objects.for_organization(organization)
        .filter(release_id__in=ids)
        .exclude(commit__author_name="", commit__author_email="")
        .values_list("release_id", "commit__author_name", "commit__author_email")
        .distinct()
        .order_by("release_id", "commit__author_name", "commit__author_email")
    ):
        authors[release_id].append((name, email))
    summaries = []
    for release in releases:
        deployment = latest.get(release.pk)
        sha = ref_shas.get(release.pk, "")
        summaries.append(
            ReleaseSummary(
                release=release,
                deploy_count=deployment.deploy_count if deployment else 0,
                latest_deployment=deployment,
                head_commit=by_sha.get(sha) or first_commits.get(release.pk),
                head_sha=sha,
                authors=authors[release.pk],
            )
        )
    return summaries


def release_summary(*, organization: Organization, release: Release) -> ReleaseSummary:
    """The summary of ``release`` as it is now (after a write that changed it)."""
    row = release_list(organization=organization).get(pk=release.pk)
    return release_summaries(organization=organization, releases=[row])[0]


# Incoming integrations ---------------------------------------------------------------------


def environment_get(*, organization: Organization, name: str) -> Environment | None:
    """The environment named ``name``; None too for a name no environment can have (longer than
    the field, or holding a NUL character, which PostgreSQL cannot even compare)."""
    if "\x00" in name or len(name) > Environment._meta.get_field("name").max_length:
        return None
    return environment_list(organization=organization).filter(name=name).first()


def deployment_list_of_project(*, organization: Organization, environment: Environment, project: str) -> QuerySet:
    """The deployments of ``project`` (by name) to ``environment``, newest first, with what a
    vendor's list shows of each (its environment, release and project)."""
    return (
        Deployment.objects.for_organization(organization)
        .filter(environment=environment, project__name=project)
        .select_related("environment", "release", "project")
        .order_by("-occurred_at", "-id")
    )


def deployment_get_by_external_id(
    *, organization: Organization, environment: str, external_id: str
) -> Deployment | None:
    """The deployment a source's own id names in an environment (by name), if it was recorded."""
    return (
        Deployment.objects.for_organization(organization)
        .filter(environment__name=environment, external_id=external_id)
        .first()
    )


# What a deployment ships ------------------------------------------------------------------------


@dataclass(frozen=True)
class CommitsShipped:
    """The commits a deployment brings to its environment, as chat messages list them."""

    # The latest successful deployment to the same environment and project before this one
    # (with its release loaded), or None for the first there.
    previous: Deployment | None
    # Newest first (by commit time, then as recorded), at most the ``limit`` asked for.
    commits: list[Commit]
    # How many there are in all.
    total: int


def deployment_commits_since_previous(
    *, organization: Organization, deployment: Deployment, limit: int
) -> CommitsShipped:
    """The commits ``deployment`` brings over the previous successful deployment to its
    environment and project: the compare of the two releases (the commits of the project's
    releases after the previous one, up to this one, less those in the previous one or earlier).

    With no previous release there (the first deployment, or one of a bare sha before it), the
    release's own commits. A bare-sha deployment lists its one commit when the tracker knows it.
    A redeployment or a rollback brings nothing new. Three queries whatever the history: the
    previous deployment, a count, and the first ``limit`` commits.
    """
    scope = Deployment.objects.for_organization(organization).filter(
        environment_id=deployment.environment_id, project_id=deployment.project_id, status=DeploymentStatus.SUCCESS
    )
    if deployment.pk is not None:
        scope = scope.exclude(pk=deployment.pk).filter(
            Q(occurred_at__lt=deployment.occurred_at) | Q(occurred_at=deployment.occurred_at, pk__lt=deployment.pk)
        )
    else:
        scope = scope.filter(occurred_at__lte=deployment.occurred_at)
    previous = scope.select_related("release").order_by("-occurred_at", "-id").first()

    commits = Commit.objects.for_organization(organization)
    head = deployment.release
    if head is None:
        # "g" sorts after every hex digit: the range holds the shas that start with this one.
        sha = deployment.commit_sha
        known = list(commits.filter(sha__gte=sha, sha__lt=f"{sha}g").order_by("sha")[:2])
        listed = known if len(known) == 1 else []
        return CommitsShipped(previous=previous, commits=listed[:limit], total=len(listed))

    base = previous.release if previous is not None else None
    if base is None:
        commits = commits.filter(pk__in=ReleaseCommit.objects.filter(release=head).values("commit_id"))
    elif base.pk == head.pk:
        return CommitsShipped(previous=previous, commits=[], total=0)
    else:
        # The compare of the two releases, within the deployment's project.
        project_ids = [deployment.project_id] if deployment.project_id is not None else None
        commits = release_commits_between(organization=organization, base=base, head=head, project_ids=project_ids)
    total = commits.count()
    listed = list(commits.order_by(F("timestamp").desc(nulls_last=True), "-id")[:limit]) if total else []
    return CommitsShipped(previous=previous, commits=listed, total=total)


def deployment_get_by_public_id(*, organization: Organization, public_id) -> Deployment | None:
    """A deployment by the id the API and the outgoing webhooks show, with its environment,
    release and project; None for a malformed id, as for another organization's."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return (
        Deployment.objects.for_organization(organization)
        .select_related("environment", "release", "project")
        .filter(public_id=key)
        .first()
    )


# What is live, and the compare of what is live where -------------------------------------------


def environment_live_release(
    *, organization: Organization, project: Project | None, environment: Environment
) -> Release | None:
    """The release live in ``environment``: that of the latest successful deployment there (of
    ``project`` when given, else of any project), as ``release_list`` reads it. None when nothing
    was deployed there successfully, or when what is live is a bare sha (no release)."""
    live = Deployment.objects.for_organization(organization).filter(
        environment=environment, status=DeploymentStatus.SUCCESS
    )
    if project is not None:
        live = live.filter(project=project)
    release_id = live.order_by("-occurred_at", "-id").values("release_id")[:1]
    return release_list(organization=organization).filter(pk=Subquery(release_id)).first()


def _environments_project(*, organization: Organization, environments: list[Environment]) -> None:
    """Refuse, naming ``project``, a compare by environment without a project when those
    environments had successful deployments of more than one project."""
    names = list(
        Deployment.objects.for_organization(organization)
        .filter(environment__in=environments, status=DeploymentStatus.SUCCESS)
        .order_by("project__name")
        .values_list("project__name", flat=True)
        .distinct()[:4]
    )
    if len(names) > 1:
        shown = ", ".join(name or "(no project)" for name in names[:3]) + (", ..." if len(names) > 3 else "")
        where = " and ".join(env.name for env in environments)
        raise DomainError(f"{where} run several projects ({shown}): name one", field="project")


def release_compare_by_name(
    *,
    organization: Organization,
    base: str = "",
    head: str = "",
    base_environment: str = "",
    head_environment: str = "",
    project: str = "",
    limit: int = COMPARE_COMMIT_LIMIT,
) -> ReleaseComparison:
    """``release_compare`` of the releases named by version (``base``, ``head``) or by the
    environment they are live in (``base_environment``, ``head_environment``), each side one or
    the other, within ``project`` when named.

    Another organization's version, environment or project is unknown: a 404 naming the
    parameter, as is an environment where no release is live. A constant number of queries.
    """
    for side, version, environment in (("base", base, base_environment), ("head", head, head_environment)):
        if bool(version) == bool(environment):
            raise DomainError(f"name either {side} (a version) or {side}_environment", field=side)
    named_project = None
    if project:
        named_project = project_get(organization=organization, name=project)
        if named_project is None:
            raise NotFound(f"no project {project!r}", field="project")

    environments: dict[str, Environment] = {}
    wanted = {
        field: name
        for field, name in (("base_environment", base_environment), ("head_environment", head_environment))
        if name
    }
    if wanted:
        known = {env.name: env for env in environment_list(organization=organization).filter(name__in=wanted.values())}
        for field, name in wanted.items():
            if name not in known:
                raise NotFound(f"no environment {name!r}", field=field)
            environments[field] = known[name]
        if named_project is None:
            _environments_project(
                organization=organization, environments=list({e.pk: e for e in environments.values()}.values())
            )

    releases = (
        release_pair_get(
            organization=organization,
            versions={field: version for field, version in (("base", base), ("head", head)) if version},
            project=named_project,
        )
        if base or head
        else {}
    )
    for side in ("base", "head"):
        field = f"{side}_environment"
        if field in environments:
            live = environment_live_release(
                organization=organization, project=named_project, environment=environments[field]
            )
            if live is None:
                of = f" of project {named_project.name}" if named_project is not None else ""
                raise NotFound(f"no release{of} is live in {environments[field].name}", field=field)
            releases[side] = live
    return release_compare(
        organization=organization, base=releases["base"], head=releases["head"], project=named_project, limit=limit
    )


# What is live where -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveCell:
    """What is live in one environment for one project (``project`` None: deployments of no project).

    ``behind`` counts the project's releases newer than the live one (timeline order: creation
    time, then id) up to the newest release live in any environment of the project; None when
    the live deployment is of a bare sha or of no project (no release order to count in).
    """

    project: Project | None
    environment: Environment
    deployment: Deployment | None
    behind: int | None = None

    @property
    def stale(self) -> bool:
        """Behind the project's newest live release: it is waiting to be deployed here."""
        return bool(self.behind)


@dataclass(frozen=True)
class LiveRow:
    project: Project | None
    cells: list[LiveCell]


def _live_id(environment_id, project) -> Subquery:
    """The id of the latest successful deployment to an environment for a project (an outer
    reference, or None for no project): one probe of the ``deployments_live`` index."""
    latest = Deployment.objects.filter(
        organization_id=OuterRef("organization_id"), environment_id=environment_id, status=DeploymentStatus.SUCCESS
    )
    latest = latest.filter(project__isnull=True) if project is None else latest.filter(project_id=project)
    return Subquery(latest.order_by("-occurred_at", "-id").values("id")[:1])


def environment_live_environments(*, organization: Organization) -> QuerySet[Environment]:
    """The environments in matrix order, each with ``live_unassigned``: the id of its latest
    successful deployment of no project (None when there is none)."""
    return environment_list(organization=organization).annotate(live_unassigned=_live_id(OuterRef("pk"), None))


def environment_live_projects(*, organization: Organization, environments: Sequence[Environment]) -> QuerySet:
    """The projects by name, each with ``live_<environment id>``: its live deployment's id there."""
    return project_list(organization=organization).annotate(
        **{f"live_{env.pk}": _live_id(env.pk, OuterRef("pk")) for env in environments}
    )


def environment_live_matrix(
    *,
    organization: Organization,
    projects: Sequence[Project],
    environments: Sequence[Environment],
    include_unassigned: bool = False,
) -> list[LiveRow]:
    """The live matrix of ``projects`` (rows of ``environment_live_projects``) across
    ``environments`` (rows of ``environment_live_environments``), with a last row for deployments
    of no project when ``include_unassigned`` and one is live somewhere.

    Two queries whatever the matrix's size: the live deployments, and the "behind" counts (one
    aggregate); the ids came with the rows. ``behind`` is counted over the ``environments`` given.
    """
    grid: list[tuple[Project | None, list[int | None]]] = [
        (project, [getattr(project, f"live_{env.pk}") for env in environments]) for project in projects
    ]
    if include_unassigned:
        ids = [env.live_unassigned for env in environments]
        if any(ids):
            grid.append((None, ids))
    wanted = {pk for _, ids in grid for pk in ids if pk}
    loaded = {}
    if wanted:
        loaded = {
            d.pk: d
            for d in Deployment.objects.for_organization(organization)
            .filter(pk__in=wanted)
            .select_related("environment", "release", "project")
        }

    def order(release: Release) -> tuple:
        return (release.created_at, release.pk)

    # For each project, its newest live release; each cell behind it gets a count.
    counts: dict[str, Count] = {}
    ranges = Q()
    keys: dict[tuple[int, int], str] = {}
    for project, ids in grid:
        if project is None:
            continue
        releases = [loaded[pk].release for pk in ids if pk and loaded[pk].release_id]
        if not releases:
            continue
        newest = max(releases, key=order)
        upto = Q(release__created_at__lt=newest.created_at) | Q(
            release__created_at=newest.created_at, release_id__lte=newest.pk
        )
        oldest = min(releases, key=order)
        ranges |= Q(project_id=project.pk, release__created_at__gte=oldest.created_at) & upto
        for release in {r.pk: r for r in releases if order(r) < order(newest)}.values():
            after = Q(release__created_at__gt=release.created_at) | Q(
                release__created_at=release.created_at, release_id__gt=release.pk
            )
            key = f"behind_{len(keys)}"
            keys[(project.pk, release.pk)] = key
            counts[key] = Count("id", filter=Q(project_id=project.pk) & after & upto)
    behind: dict = {}
    if counts:
        behind = ReleaseProject.objects.for_organization(organization).filter(ranges).aggregate(**counts)

    rows = []
    for project, ids in grid:
        cells = []
        for env, pk in zip(environments, ids, strict=True):
            deployment = loaded.get(pk) if pk else None
            count = None
            if deployment is not None and deployment.release_id and project is not None:
                key = keys.get((project.pk, deployment.release_id))
                count = behind.get(key, 0) if key else 0
            cells.append(LiveCell(project=project, environment=env, deployment=deployment, behind=count))
        rows.append(LiveRow(project=project, cells=cells))
    return rows


# Failure to recovery ----------------------------------------------------------------------------
# The metrics' definitions (metrics/queries.py, ``changes_sql``; docs/metrics.md), applied to
# deployments a page shows: a failed change is a failure, a success tagged ``is_failure``, or the
# last success before a hotfix or rollback to the same environment and project; it is recovered
# by the next success there that is not itself a failed change. Both need only what came after
# the deployment, so each (environment, project) is read from its earliest row on the page on.
# tests/deployments/test_recovery.py checks the page and the metrics agree.


@dataclass(frozen=True)
class Recovery:
    """What a failed change's page row shows: the deployment that recovered it (None: not yet),
    and the seconds from the failed change to it."""

    recovered_by: Deployment | None
    seconds: float | None


def _tagged_failure_sql(alias: str) -> str:
    if connection.vendor == "postgresql":
        return f"""(CASE WHEN {alias}.tags @> '["is_failure"]'::jsonb THEN 1 ELSE 0 END)"""
    return (
        f"(CASE WHEN EXISTS (SELECT 1 FROM json_each({alias}.tags) WHERE json_each.value = 'is_failure')"  # noqa: S608
        " THEN 1 ELSE 0 END)"
    )


def _recovery_ctes(source: str) -> str:
    """``scoped`` (the deployments ``d`` of the FROM clause ``source``) through to
    ``numbered``: each row with ``failed_change`` (0/1) and ``good_no``, the number of successes
    that are not failed changes at or before it in its environment and project."""
    return f"""
    scoped AS (
        SELECT d.id, d.occurred_at, d.status, d.environment_id, COALESCE(d.project_id, 0) AS project_key,
               d.is_hotfix, d.is_rollback, {_tagged_failure_sql("d")} AS tagged_failure,
               SUM(CASE WHEN d.status = 'success' THEN 1 ELSE 0 END) OVER (
                   PARTITION BY d.environment_id, COALESCE(d.project_id, 0)
                   ORDER BY d.occurred_at, d.id ROWS UNBOUNDED PRECEDING
               ) AS success_no
        FROM {source}
    ),
    remediated AS (
        SELECT DISTINCT environment_id, project_key,
               success_no - CASE WHEN status = 'success' THEN 1 ELSE 0 END AS success_no
        FROM scoped WHERE is_hotfix OR is_rollback
    ),
    flagged AS (
        SELECT s.id, s.occurred_at, s.status, s.environment_id, s.project_key,
               CASE WHEN s.status = 'failure'
                      OR (s.status = 'success' AND (s.tagged_failure = 1 OR r.success_no IS NOT NULL))
                    THEN 1 ELSE 0 END AS failed_change
        FROM scoped s
        LEFT JOIN remediated r
          ON s.status = 'success' AND r.environment_id = s.environment_id
         AND r.project_key = s.project_key AND r.success_no = s.success_no
    ),
    numbered AS (
        SELECT f.*, SUM(CASE WHEN f.status = 'success' AND f.failed_change = 0 THEN 1 ELSE 0 END) OVER (
                   PARTITION BY f.environment_id, f.project_key
                   ORDER BY f.occurred_at, f.id ROWS UNBOUNDED PRECEDING
               ) AS good_no
        FROM flagged f
    )"""  # noqa: S608


def deployment_recoveries(*, organization: Organization, deployments: Sequence[Deployment]) -> dict[int, Recovery]:
    """The failed changes among ``deployments`` (a page), by id, each with what recovered it.

    Two queries whatever the page's size: the definitions over each (environment, project) of the
    page from its earliest row there on (ranges of the ``deployments_org_env_time`` index), and
    the recovering deployments with their release and environment.
    """
    if not deployments:
        return {}
    table = Deployment._meta.db_table
    ids = [d.pk for d in deployments]
    since: dict[tuple[int, int | None], datetime] = {}
    for d in deployments:
        key = (d.environment_id, d.project_id)
        since[key] = min(since.get(key, d.occurred_at), d.occurred_at)
    # One index range per (environment, project) from the page's earliest row there, with the
    # time as a value the planner can weigh (as a column of another row it guesses a third of
    # the table, and reads all of it).
    parts, params = [], []
    adapt = connection.ops.adapt_datetimefield_value
    for (environment_id, project_id), start in since.items():
        project = "d.project_id IS NULL" if project_id is None else "d.project_id = %s"
        parts.append(
            f"SELECT * FROM {table} d WHERE d.organization_id = %s AND d.environment_id = %s"  # noqa: S608
            f" AND {project} AND d.occurred_at >= %s"
        )
        params += [organization.pk, environment_id, *([] if project_id is None else [project_id]), adapt(start)]
    marks = ", ".join(["%s"] * len(ids))
    sql = f"""
    WITH {_recovery_ctes(f"({' UNION ALL '.join(parts)}) d")}
    SELECT n.id, g.id
    FROM numbered n
    LEFT JOIN numbered g
      ON g.environment_id = n.environment_id AND g.project_key = n.project_key
     AND g.status = 'success' AND g.failed_change = 0 AND g.good_no = n.good_no + 1
    WHERE n.failed_change = 1 AND n.id IN ({marks})
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *ids])
        pairs = cursor.fetchall()
    recovering = {
        d.pk: d
        for d in Deployment.objects.for_organization(organization)
        .filter(pk__in={later for _, later in pairs if later})
        .select_related("environment", "release", "project")
    }
    by_id = {d.pk: d for d in deployments}
    found = {}
    for failed_id, later_id in pairs:
        later = recovering.get(later_id)
        seconds = (later.occurred_at - by_id[failed_id].occurred_at).total_seconds() if later else None
        found[failed_id] = Recovery(recovered_by=later, seconds=seconds)
    return found


def deployment_failed_change_ids(
    *, organization: Organization, since: datetime | None = None, until: datetime | None = None
) -> RawSQL:
    """The ids of the organization's failed changes in ``[since, until)`` (either end open), as a
    subquery for ``pk__in`` (the deployments view's ``failed_change`` filter). The rows after
    ``until`` that make a deployment a failed change are read, as the metrics do."""
    adapt = connection.ops.adapt_datetimefield_value
    where, params = f"{Deployment._meta.db_table} d WHERE d.organization_id = %s", [organization.pk]
    if since is not None:
        where += " AND d.occurred_at >= %s"
        params.append(adapt(since))
    before = ""
    if until is not None:
        before = " AND occurred_at < %s"
        params.append(adapt(until))
    sql = f"WITH {_recovery_ctes(where)} SELECT id FROM numbered WHERE failed_change = 1{before}"  # noqa: S608
    # Only fixed fragments are formatted in; every value is a parameter.
    return RawSQL(sql, params)  # noqa: S611
