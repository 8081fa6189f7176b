"""Keeping ``FirstDeployment`` exact: each commit's first successful deployment in every lead-time scope.

A successful deployment to environment E of project P counts in four scopes: (E, P), (E, every
project), and, when E is a production environment, (every production environment, P) and
(every production environment, every project); without a project only the "every project" ones.

The rows are a function of three things: the successful deployments (their environment, project
and time), the commits of their releases, and, for a deployment without a release, the commit
that has its sha. So every write that can change one of those calls in here, inside its own
transaction:

- a deployment recorded as a success, or becoming one (``first_deployments_add_deployment``);
- a success that stops being one (``first_deployments_remove_deployment``): the rows it held are
  recomputed from the deployments that remain;
- commits appended to a release that was already deployed (``first_deployments_add_release_commits``);
- a commit stored with the sha of an earlier deployment without a release, or gaining its time
  (``first_deployments_add_commits``);
- an environment joining or leaving production (``first_deployments_environment_changed``).

Adding a success can only make a first deployment earlier, so the adds are one
``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` that keeps the earlier of the stored row and
the new one: concurrent adds to the same row wait on its lock and both end exact. The SQL is the
same on PostgreSQL and SQLite (3.33+, for UPDATE ... FROM). ``first_deployments_fill`` computes everything from scratch,
for the migration, the benchmark's bulk seed and the tests that compare both.

Every write stores the row's lead-time bin too (``lead_bin_sql``), from the same times it stores:
when the first deployment moves, and when the commit's time changes.
"""

from collections.abc import Sequence

from django.db import connection
from django.utils import timezone

from deployments.models import Deployment, DeploymentStatus, Environment, FirstDeployment
from releases.models import Commit, ReleaseCommit
from releasetracker.sql import seconds_between

FIRST = FirstDeployment._meta.db_table
DEPLOYMENT = Deployment._meta.db_table
ENVIRONMENT = Environment._meta.db_table
COMMIT = Commit._meta.db_table
RELEASE_COMMIT = ReleaseCommit._meta.db_table

# Ids per statement: well under SQLite's parameter limit; PostgreSQL has none worth the name, so
# there one statement takes all the ids a request can bring and the query count stays constant.
SQLITE_CHUNK = 500
CHUNK = 20_000

NEVER = "1 = 0"

# Lead-time bins: (from this many seconds, bins this many seconds wide). Up to a minute, one bin
# per second; then ever wider bins, so a few thousand bins span years and each bin holds few of
# a window's commits. A piece's first bin follows the previous piece's last one.
BIN_WIDTHS = ((0, 1), (60, 15), (3600, 120), (86400, 600), (7 * 86400, 3600), (90 * 86400, 86400))


def _bin_offsets() -> list[tuple[int, int, int]]:
    """Each piece of ``BIN_WIDTHS`` as (start, width, number of its first bin)."""
    pieces, first = [], 0
    for index, (start, width) in enumerate(BIN_WIDTHS):
        pieces.append((start, width, first))
        if index + 1 < len(BIN_WIDTHS):
            first += (BIN_WIDTHS[index + 1][0] - start) // width
    return pieces


def lead_bin_sql(later: str, earlier: str) -> str:
    """The lead-time bin of the span from ``earlier`` to ``later``: -1 when it is <= 0 seconds.

    Non-decreasing in the seconds the metrics read (the same ``seconds_between`` expression,
    integer arithmetic on it only): a bin holds a contiguous range of values, the bins in
    ascending order hold the values in ascending order.
    """
    seconds = seconds_between(later, earlier)
    cases = [f"WHEN {seconds} <= 0 THEN -1"]
    pieces = _bin_offsets()
    for index, (start, width, first) in enumerate(pieces):
        offset = f"({seconds} - {start})" if start else seconds
        if width > 1:
            offset = f"{offset} / {width}"
        # Non-negative in its piece, so truncation is the floor.
        whole = f"FLOOR({offset})::int" if connection.vendor == "postgresql" else f"CAST({offset} AS INTEGER)"
        value = f"{first} + {whole}" if first else whole
        if index + 1 < len(pieces):
            cases.append(f"WHEN {seconds} < {pieces[index + 1][0]} THEN {value}")
        else:
            cases.append(f"ELSE {value}")
    return f"(CASE {' '.join(cases)} END)"


def _sources(release_filter: str, bare_filter: str) -> str:
    """Each successful deployment's commits (as in the lead-time definition), filtered.

    A deployment's commits are its release's commits, or the commit with its own sha when it
    has no release (``d`` is the deployment, ``rc`` the release's commit link, ``c`` the commit).
    """
    return f"""
        SELECT d.organization_id, rc.commit_id, d.environment_id, d.project_id, d.id AS deployment_id, d.occurred_at
        FROM {DEPLOYMENT} d JOIN {RELEASE_COMMIT} rc ON rc.release_id = d.release_id
        WHERE d.status = '{DeploymentStatus.SUCCESS}' AND {release_filter}
        UNION ALL
        SELECT d.organization_id, c.id AS commit_id, d.environment_id, d.project_id, d.id AS deployment_id,
               d.occurred_at
        FROM {DEPLOYMENT} d JOIN {COMMIT} c ON c.organization_id = d.organization_id AND c.sha = d.commit_sha
        WHERE d.release_id IS NULL AND d.status = '{DeploymentStatus.SUCCESS}' AND {bare_filter}"""  # noqa: S608


# The four scopes a deployment counts in: by its own environment (1) or every production one (0),
# by its own project (1) or every project (0).
KINDS = "(SELECT 1 AS by_env, 1 AS by_project UNION ALL SELECT 1, 0 UNION ALL SELECT 0, 1 UNION ALL SELECT 0, 0)"


def _scoped(release_filter: str, bare_filter: str) -> str:
    """The filtered sources once per scope they count in, with the scope's keys and the commit's time."""
    return f"""
        SELECT s.organization_id, s.commit_id,
               CASE WHEN k.by_env = 1 THEN s.environment_id ELSE {FirstDeployment.ALL} END AS environment_key,
               CASE WHEN k.by_project = 1 THEN s.project_id ELSE {FirstDeployment.ALL} END AS project_key,
               s.deployment_id, s.occurred_at, COALESCE(c.timestamp, c.created_at) AS committed_at
        FROM ({_sources(release_filter, bare_filter)}) s
        JOIN {ENVIRONMENT} e ON e.id = s.environment_id
        JOIN {COMMIT} c ON c.id = s.commit_id
        CROSS JOIN {KINDS} k
        WHERE (k.by_env = 1 OR e.is_production) AND (k.by_project = 0 OR s.project_id IS NOT NULL)"""  # noqa: S608


def _upsert_earliest(release_filter: str, bare_filter: str, params: dict, *, empty: bool = False) -> None:
    """Store the earliest of the filtered sources per scope, unless the stored row is earlier already.

    ``empty``: no row of these sources is stored, so a plain insert does (the benchmark's bulk
    load drops the unique constraint the conflict clause needs).
    """
    params = {**params, "now": connection.ops.adapt_datetimefield_value(timezone.now())}
    sql = f"""
    INSERT INTO {FIRST} (organization_id, commit_id, environment_key, project_key, deployment_id, occurred_at,
                         committed_at, lead_bin, created_at, updated_at)
    SELECT organization_id, commit_id, environment_key, project_key, deployment_id, occurred_at, committed_at,
           {lead_bin_sql("occurred_at", "committed_at")}, %(now)s, %(now)s
    FROM (
        SELECT s.*, ROW_NUMBER() OVER (
                   PARTITION BY commit_id, environment_key, project_key ORDER BY occurred_at, deployment_id
               ) AS n
        FROM ({_scoped(release_filter, bare_filter)}) s
    ) ranked
    WHERE n = 1
    """  # noqa: S608
    if not empty:
        sql += f"""
    ON CONFLICT (commit_id, environment_key, project_key) DO UPDATE
    SET deployment_id = excluded.deployment_id, occurred_at = excluded.occurred_at,
        committed_at = excluded.committed_at, lead_bin = excluded.lead_bin, updated_at = excluded.updated_at
    WHERE excluded.occurred_at < {FIRST}.occurred_at
       OR (excluded.occurred_at = {FIRST}.occurred_at AND excluded.deployment_id < {FIRST}.deployment_id)
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _in(column: str, ids: Sequence[int], params: dict, *, prefix: str = "id") -> str:
    names = []
    for index, value in enumerate(ids):
        params[f"{prefix}{index}"] = value
        names.append(f"%({prefix}{index})s")
    return f"{column} IN ({', '.join(names)})"


def _environment_ids(organization_id: int) -> list[int]:
    return list(Environment.objects.filter(organization_id=organization_id).values_list("id", flat=True))


def _bare_by_commit(
    organization_id: int, environment_ids: Sequence[int], commit_ids: Sequence[int], params: dict
) -> str | None:
    """The filter of the deployments without a release that name these commits' shas.

    It names the organization's environments, so the lookup goes through the whole
    ``(organization, environment, commit_sha)`` index rather than every bare deployment of the
    organization. ``None`` when the organization has no environment (so no deployment).
    """
    if not environment_ids:
        return None
    params["org"] = organization_id
    return (
        f"d.organization_id = %(org)s AND {_in('d.environment_id', environment_ids, params, prefix='env')}"
        f" AND {_in('c.id', commit_ids, params)}"
    )


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    ids = sorted(set(ids))
    size = SQLITE_CHUNK if connection.features.max_query_params else CHUNK
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def first_deployments_add_deployment(deployment: Deployment) -> None:
    """A deployment is now a success: it may be its commits' first one in its scope."""
    if deployment.status != DeploymentStatus.SUCCESS:
        return
    params = {"deployment": deployment.pk}
    _upsert_earliest("d.id = %(deployment)s", "d.id = %(deployment)s", params)


def first_deployments_remove_deployment(deployment: Deployment) -> None:
    """A deployment stopped being a success: the rows it held fall to the next earliest success.

    Only the rows that name it can change (it was no other commit's first deployment); their
    commits are recomputed from the deployments that remain.
    """
    rows = FirstDeployment.objects.filter(organization_id=deployment.organization_id, deployment_id=deployment.pk)
    commit_ids = list(rows.values_list("commit_id", flat=True).distinct())
    if commit_ids:
        first_deployments_recompute_commits(organization_id=deployment.organization_id, commit_ids=commit_ids)


def first_deployments_add_release_commits(*, organization_id: int, release_id: int, commit_ids: Sequence[int]) -> None:
    """Commits appended to a release: its successful deployments deployed them too."""
    for chunk in _chunks(commit_ids):
        params = {"org": organization_id, "release": release_id}
        release_filter = (
            f"d.organization_id = %(org)s AND d.release_id = %(release)s AND {_in('rc.commit_id', chunk, params)}"
        )
        _upsert_earliest(release_filter, NEVER, params)


def first_deployments_add_commits(*, organization_id: int, commit_ids: Sequence[int]) -> None:
    """Commits stored: a successful deployment without a release may have named one's sha before
    it existed, and a commit first seen without a time may have gained one."""
    environment_ids = _environment_ids(organization_id)
    for chunk in _chunks(commit_ids):
        params: dict = {}
        bare_filter = _bare_by_commit(organization_id, environment_ids, chunk, params)
        if bare_filter is not None:
            _upsert_earliest(NEVER, bare_filter, params)
        _refresh_commit_times(organization_id, chunk)


def _refresh_commit_times(organization_id: int, commit_ids: Sequence[int]) -> None:
    """The rows of commits whose time changed take the new time, and the lead-time bin it gives."""
    params: dict = {"org": organization_id}
    sql = f"""
    UPDATE {FIRST} SET committed_at = c.t, lead_bin = {lead_bin_sql(f"{FIRST}.occurred_at", "c.t")}
    FROM (SELECT c.id, COALESCE(c.timestamp, c.created_at) AS t FROM {COMMIT} c
          WHERE {_in("c.id", commit_ids, params)}) c
    WHERE {FIRST}.organization_id = %(org)s AND {_in(f"{FIRST}.commit_id", commit_ids, params)}
      AND {FIRST}.commit_id = c.id AND {FIRST}.committed_at <> c.t
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def first_deployments_environment_changed(environment: Environment) -> None:
    """An environment joined or left production: the "every production environment" rows of the
    commits deployed there gain or lose its deployments."""
    commit_ids = list(
        FirstDeployment.objects.filter(organization_id=environment.organization_id, environment_key=environment.pk)
        .values_list("commit_id", flat=True)
        .distinct()
    )
    first_deployments_recompute_commits(organization_id=environment.organization_id, commit_ids=commit_ids)


def first_deployments_fill(*, organization_id: int | None = None) -> None:
    """Recompute every row (of one organization, or of all) from the deployments."""
    rows = FirstDeployment.objects.all()
    params: dict = {}
    scope = "1 = 1"
    if organization_id is not None:
        rows = rows.filter(organization_id=organization_id)
        params["org"] = organization_id
        scope = "d.organization_id = %(org)s"
    rows.delete()
    _upsert_earliest(scope, scope, params, empty=True)


def first_deployments_recompute_commits(*, organization_id: int, commit_ids: Sequence[int]) -> None:
    """Recompute every row of these commits (every scope) from the deployments.

    For the changes that can move a first deployment anywhere: a success that stops being one,
    an environment joining or leaving production, and an admin deleting a release, a project, a
    deployment or a release's commit link.
    """
    environment_ids = _environment_ids(organization_id)
    for chunk in _chunks(commit_ids):
        FirstDeployment.objects.filter(organization_id=organization_id, commit_id__in=chunk).delete()
        params: dict = {}
        bare_filter = _bare_by_commit(organization_id, environment_ids, chunk, params)
        if bare_filter is not None:
            release_filter = f"d.organization_id = %(org)s AND {_in('rc.commit_id', chunk, params)}"
            _upsert_earliest(release_filter, bare_filter, params)
