"""The SQL behind the DORA metrics, written for PostgreSQL and SQLite: per request one aggregate
statement for the deployments' metrics and two small ones for lead time.

Why raw SQL: the definitions (DESIGN.md, "DORA metrics") need a recursive walk (past successes
that incidents fail, to the one that recovers a failed change), correlated lookups (incident
attribution) and percentiles. The ORM cannot express those without loading rows into Python,
which is what we must not do at a million deployments.

What depends on a deployment's whole history is kept on the write path, so a request reads its
window only: each deployment's own outcome (``deployments.outcomes``: a failed change by itself,
and the next clean success in its environment and project) and each commit's first deployment
in every lead-time scope (``deployments.first_deployments``, with the bin of its lead time).
Every statement starts from ``deployments_deployment`` filtered by organization, the
environments in scope and the time window, read from the ``(organization, environment,
occurred_at)`` index alone on PostgreSQL (lead time: ``FirstDeployment``'s rows of the scope,
through its own indexes). Incidents are attributed here, from ``since`` on. Only aggregates leave
the database: one row per chart bucket plus one row (``k = -1``) for the whole window. Lead
time's exact percentiles come from counts per bucket and lead-time bin (monotone in the lead
time), then the one value at each rank a percentile needs, read from the one bin that holds it
(``lead_times``).

The two dialects differ in four places only, each behind a small function: the seconds between
two times (``releasetracker.sql``, shared with the lead-time bins), the bucket number of a time,
the percentile (``percentile_cont`` on PostgreSQL; the same linear interpolation over
``ROW_NUMBER()`` on SQLite) and the CTEs computed once (``MATERIALIZED`` on PostgreSQL).

Only table names, fixed fragments and generated placeholder names are formatted into the SQL
(hence the ``noqa: S608``); every value, ids and times included, is a query parameter.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import connection

from deployments.models import Deployment, Environment, FirstDeployment
from incidents.models import DEFAULT_ATTRIBUTION_WINDOW, Incident, IncidentSettings
from releases.models import Commit, ReleaseCommit
from releasetracker.sql import seconds_between

DEPLOYMENT = Deployment._meta.db_table
COMMIT = Commit._meta.db_table
RELEASE_COMMIT = ReleaseCommit._meta.db_table
FIRST_DEPLOYMENT = FirstDeployment._meta.db_table
INCIDENT = Incident._meta.db_table
ENVIRONMENT = Environment._meta.db_table
INCIDENT_SETTINGS = IncidentSettings._meta.db_table

# The row that carries the whole window's aggregates next to the per-bucket rows.
TOTAL = -1


@dataclass(frozen=True)
class Scope:
    """Which deployments a request counts: one organization, some environments, maybe one project."""

    organization_id: int
    environment_ids: Sequence[int]
    project_id: int | None
    since: datetime
    until: datetime
    # Start of the first chart bucket (calendar aligned, at or before ``since``) and bucket length.
    anchor: datetime
    bucket_seconds: int
    # The organization's production environments: where an incident's commit is looked for.
    production_ids: Sequence[int] = ()
    # Lead time's scope among ``FirstDeployment``'s: the one environment asked for, or every
    # production environment (``FirstDeployment.ALL``).
    environment_key: int = FirstDeployment.ALL


def _postgres() -> bool:
    return connection.vendor == "postgresql"


# Seconds from ``earlier`` to ``later`` as a float (to the millisecond on SQLite): the expression
# the first deployments' lead-time bins are computed with too.
_seconds = seconds_between


def _bucket(column: str, scope: Scope) -> str:
    """The chart bucket number of a time: whole bucket lengths since the anchor."""
    if _postgres():
        # date_part's float8, not EXTRACT's numeric: a third of the cost over a million rows, and
        # as exact here (a time a microsecond before a boundary is a millionth of a second off an
        # integer; the float's error at a year of seconds is a few billionths).
        return f"FLOOR(date_part('epoch', {column} - %(anchor)s) / {scope.bucket_seconds})::int"
    # Integer milliseconds first, so a time exactly on a bucket boundary lands in the later bucket.
    return (
        f"(CAST(ROUND((julianday({column}) - julianday(%(anchor)s)) * 86400000.0) AS INTEGER)"
        f" / {scope.bucket_seconds * 1000})"
    )


def _once() -> str:
    """``MATERIALIZED`` on PostgreSQL: a CTE whose lookups are computed once per row, not inlined
    into every expression that names its columns (which ran each incident's lookups a dozen
    times). SQLite computes these CTEs once anyway."""
    return "MATERIALIZED " if _postgres() else ""


def _percentiles(source: str, value: str, percentiles: dict[str, float]) -> str:
    """``SELECT k, <name> ...`` with the continuous percentile of ``value`` per ``k`` (NULLs ignored).

    SQLite has no ``percentile_cont``; the fallback does what PostgreSQL does: with ``n`` values
    sorted, position ``p * (n - 1)`` (0-based) interpolated linearly between its two neighbours.
    """
    if _postgres():
        columns = ", ".join(
            f"percentile_cont({p}) WITHIN GROUP (ORDER BY {value}) AS {name}" for name, p in percentiles.items()
        )
        return f"SELECT k, {columns} FROM {source} WHERE {value} IS NOT NULL GROUP BY k"  # noqa: S608
    columns = []
    for name, p in percentiles.items():
        position = f"({p} * (n - 1))"
        floor = f"CAST({position} AS INTEGER)"
        low = f"MAX(CASE WHEN i = {floor} THEN v END)"
        high = f"COALESCE(MAX(CASE WHEN i = {floor} + 1 THEN v END), {low})"
        columns.append(f"{low} + ({high} - {low}) * MAX({position} - {floor}) AS {name}")
    return f"""
        SELECT k, {", ".join(columns)}
        FROM (
            SELECT k, {value} AS v,
                   ROW_NUMBER() OVER (PARTITION BY k ORDER BY {value}) - 1 AS i,
                   COUNT(*) OVER (PARTITION BY k) AS n
            FROM {source} WHERE {value} IS NOT NULL
        ) ranked
        GROUP BY k"""  # noqa: S608


def _scope_sql(alias: str, scope: Scope, params: dict, *, organization: bool = True) -> str:
    """The scope's environments (and project) for deployments ``alias``, and its organization.

    ``organization=False`` leaves the organization to a join that already names it (deployments
    of the organization's own releases), so the planner looks them up through the index that
    starts with the release rather than walking the organization's deployments by time.
    """
    placeholders = []
    for index, environment_id in enumerate(scope.environment_ids):
        params[f"env{index}"] = environment_id
        placeholders.append(f"%(env{index})s")
    sql = f"{alias}.environment_id IN ({', '.join(placeholders)})"
    if organization:
        sql = f"{alias}.organization_id = %(org)s AND {sql}"
    if scope.project_id is not None:
        sql += f" AND {alias}.project_id = %(project)s"
    return sql


def _params(scope: Scope) -> dict:
    adapt = connection.ops.adapt_datetimefield_value
    params = {
        "org": scope.organization_id,
        "since": adapt(scope.since),
        "until": adapt(scope.until),
        "anchor": adapt(scope.anchor),
    }
    if scope.project_id is not None:
        params["project"] = scope.project_id
    return params


def _fetch(sql: str, params: dict) -> dict[int, dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def _ids_in(name: str, ids: Sequence[int], params: dict) -> str:
    """``IN (...)`` with one placeholder per id; a condition that holds for no row when ``ids`` is empty."""
    if not ids:
        return "IN (NULL)"
    for index, value in enumerate(ids):
        params[f"{name}{index}"] = value
    return f"IN ({', '.join(f'%({name}{index})s' for index in range(len(ids)))})"


def _latest_success(where: str) -> str:
    """The id of the latest successful deployment ``d`` (of those ``where`` names) before the incident ``u`` started."""
    return f"""(SELECT d.id FROM {DEPLOYMENT} d
        WHERE {where} AND d.status = 'success' AND d.occurred_at < u.started_at
        ORDER BY d.occurred_at DESC, d.id DESC LIMIT 1)"""  # noqa: S608


def _time_of(deployment_id: str) -> str:
    """When deployment ``deployment_id`` happened: a lookup by primary key, run per row."""
    return f"(SELECT t.occurred_at FROM {DEPLOYMENT} t WHERE t.id = {deployment_id})"  # noqa: S608


def _later(first: str, second: str) -> str:
    """The later of two deployment ids by (time, id), either possibly NULL: one lookup by primary key."""
    return f"""(SELECT t.id FROM {DEPLOYMENT} t WHERE t.id IN ({first}, {second})
        ORDER BY t.occurred_at DESC, t.id DESC LIMIT 1)"""  # noqa: S608


def _attribution_window() -> str:
    """The organization's attribution window in seconds (its setting, else the default), read
    inside the statement so it costs no query of its own."""
    seconds = "EXTRACT(EPOCH FROM w.attribution_window)::float8" if _postgres() else "w.attribution_window / 1000000.0"
    return (
        f"COALESCE((SELECT {seconds} FROM {INCIDENT_SETTINGS} w WHERE w.organization_id = %(org)s),"  # noqa: S608
        " %(default_window)s)"
    )


def _production_in(production_ids: Sequence[int] | None, params: dict) -> str:
    """``IN (...)`` of the organization's production environments: the ids given, else a subquery
    (the pages' selectors, which must not spend a query on them)."""
    if production_ids is None:
        return f"IN (SELECT pe.id FROM {ENVIRONMENT} pe WHERE pe.organization_id = %(org)s AND pe.is_production)"  # noqa: S608
    return _ids_in("prod", production_ids, params)


def _attribution_ctes(params: dict, production_ids: Sequence[int] | None, *, since: bool = True) -> str:
    """CTEs ``unlinked`` and ``attributed_unlinked``: each incident that names no deployment and
    started from ``since`` on (any time with ``since=False``), with the deployment it is
    attributed to (NULL: unattributed). An incident is attributed to an earlier deployment, so
    those that started before the deployments read cannot change them.

    DESIGN.md's rules after the named deployment: the latest successful production deployment
    that shipped the incident's commit (through its release's commits, or as its own sha: a
    prefix of 7+ digits names the commit), else the latest successful deployment to the
    incident's environment (and project, when it names one); either only when it finished at
    most the attribution window before the incident started.

    Every lookup is a subquery correlated to one incident (or one of its commits), so each runs
    through an index whatever the planner guesses: a prefix range of shas looks to it like
    thousands of commits, and joined it hashed every release commit and deployment of a large
    organization once per incident.
    """
    params["default_window"] = DEFAULT_ATTRIBUTION_WINDOW.total_seconds()
    production = _production_in(production_ids, params)
    sha_range = "{column} >= u.commit_sha AND {column} < u.commit_sha || 'g'"
    # Per commit the prefix names: the latest production success of a release listing it.
    of_commit = f"""(SELECT d.id FROM {RELEASE_COMMIT} rc JOIN {DEPLOYMENT} d ON d.release_id = rc.release_id
        WHERE rc.commit_id = c.id AND d.environment_id {production} AND d.status = 'success'
          AND d.occurred_at < u.started_at
        ORDER BY d.occurred_at DESC, d.id DESC LIMIT 1)"""  # noqa: S608
    # OFFSET 0 keeps the inner query whole on PostgreSQL: pulled up, it ran the lookup once for
    # the filter and again for each use of its value.
    fence = " OFFSET 0" if _postgres() else ""
    by_release = f"""(SELECT x.id FROM (
            SELECT {of_commit} AS id FROM {COMMIT} c
            WHERE c.organization_id = %(org)s AND {sha_range.format(column="c.sha")}{fence}
        ) x WHERE x.id IS NOT NULL
        ORDER BY {_time_of("x.id")} DESC, x.id DESC LIMIT 1)"""  # noqa: S608
    by_sha = _latest_success(
        f"d.organization_id = %(org)s AND d.environment_id {production} AND d.release_id IS NULL"
        f" AND {sha_range.format(column='d.commit_sha')}"
    )
    by_environment = _latest_success(
        "d.organization_id = %(org)s AND d.environment_id = u.environment_id"
        " AND (u.project_id IS NULL OR d.project_id = u.project_id)"
    )
    return f"""
    unlinked AS {_once()}(
        SELECT u.id, u.started_at, u.resolved_at, u.environment_id, u.project_id,
               CASE WHEN u.commit_sha <> '' THEN {by_release} END AS by_release,
               CASE WHEN u.commit_sha <> '' THEN {by_sha} END AS by_sha,
               {by_environment} AS by_environment
        FROM {INCIDENT} u
        WHERE u.organization_id = %(org)s AND u.deployment_id IS NULL{" AND u.started_at >= %(since)s" if since else ""}
    ),
    by_commit AS {_once()}(
        -- The later of the two deployments that shipped the commit.
        SELECT n.*, {_later("n.by_release", "n.by_sha")} AS by_commit
        FROM unlinked n
    ),
    window_length AS (SELECT {_attribution_window()} AS seconds),
    attributed_unlinked AS (
        SELECT n.id, n.started_at, n.resolved_at, n.environment_id, n.project_id,
               CASE WHEN n.by_commit IS NOT NULL
                         AND {_seconds("n.started_at", _time_of("n.by_commit"))} <= w.seconds THEN n.by_commit
                    WHEN n.by_environment IS NOT NULL
                         AND {_seconds("n.started_at", _time_of("n.by_environment"))} <= w.seconds THEN n.by_environment
               END AS deployment_id
        FROM by_commit n CROSS JOIN window_length w
    )"""  # noqa: S608


def incidents_ctes(params: dict, production_ids: Sequence[int] | None, linked: str, *, since: bool = True) -> str:
    """CTEs (of a ``WITH RECURSIVE``) ending in ``incidents_of`` and ``resolved``.

    ``incidents_of``: each deployment with incidents, with ``incident_start`` (the first one's
    start), ``incident_end`` (the last one's end) and ``incidents_open``: the incidents that name
    a deployment ``d`` for which ``linked`` holds, and those (from ``%(since)s`` on, with
    ``since``) attributed to one. ``resolved``: for each of those deployments, the first clean
    success after it in its stream (``Deployment.next_clean``) that has no incident, as
    ``next_id`` and ``next_at`` (NULL: none yet). A failed change whose ``next_clean`` has
    incidents recovers there, not at the incident's deployment, which is a failed change too.
    """
    return f"""{_attribution_ctes(params, production_ids, since=since)},
    attributed AS (
        SELECT i.deployment_id, i.started_at, i.resolved_at
        FROM {INCIDENT} i JOIN {DEPLOYMENT} d ON d.id = i.deployment_id
        WHERE i.organization_id = %(org)s AND {linked}
        UNION ALL
        SELECT deployment_id, started_at, resolved_at FROM attributed_unlinked WHERE deployment_id IS NOT NULL
    ),
    incidents_of AS {_once()}(
        SELECT deployment_id, MIN(started_at) AS incident_start, MAX(resolved_at) AS incident_end,
               SUM(CASE WHEN resolved_at IS NULL THEN 1 ELSE 0 END) AS incidents_open
        FROM attributed
        GROUP BY deployment_id
    ),
    chained AS {_once()}(
        -- Each deployment with incidents, with the next clean success of its stream (and what
        -- the failed changes read of it: one lookup each).
        SELECT o.deployment_id, d.next_clean_id, d.next_clean_at, d.organization_id, d.environment_id,
               d.project_id, d.occurred_at, d.status, d.failed_alone
        FROM incidents_of o JOIN {DEPLOYMENT} d ON d.id = o.deployment_id
    ),
    hops (start_id, next_id, next_at) AS (
        -- From each of them along next_clean, while the next one has incidents too.
        SELECT deployment_id, next_clean_id, next_clean_at FROM chained
        UNION ALL
        SELECT h.start_id, c.next_clean_id, c.next_clean_at FROM hops h JOIN chained c ON c.deployment_id = h.next_id
    ),
    resolved AS (
        SELECT h.start_id, h.next_id, h.next_at
        FROM hops h LEFT JOIN chained c ON c.deployment_id = h.next_id
        WHERE c.deployment_id IS NULL
    )"""  # noqa: S608


def _failed_change(alias: str) -> str:
    """Deployment ``alias``, joined to ``incidents_of o``, is a failed change: by itself, or a
    success that incidents are attributed to."""
    return f"({alias}.failed_alone OR ({alias}.status = 'success' AND o.deployment_id IS NOT NULL))"


def _outcome(alias: str = "d") -> str:
    """The columns of deployment ``alias`` joined to ``incidents_of o`` and ``resolved r`` that the
    definitions need: ``failed_change``, ``has_incidents``, ``recovered_by`` and ``recovered_at``
    (the next success that is not a failed change), ``incidents_open`` and ``incident_seconds``
    (from the first incident's start to the last one's end; NULL while one is open)."""
    return f"""
        CASE WHEN {_failed_change(alias)} THEN 1 ELSE 0 END AS failed_change,
        CASE WHEN o.deployment_id IS NOT NULL THEN 1 ELSE 0 END AS has_incidents,
        CASE WHEN r.start_id IS NOT NULL THEN r.next_id ELSE {alias}.next_clean_id END AS recovered_by,
        CASE WHEN r.start_id IS NOT NULL THEN r.next_at ELSE {alias}.next_clean_at END AS recovered_at,
        o.incidents_open,
        CASE WHEN o.incidents_open = 0 THEN {_seconds("o.incident_end", "o.incident_start")} END AS incident_seconds"""


def _outcome_joins(alias: str = "d") -> str:
    return (
        f"LEFT JOIN incidents_of o ON o.deployment_id = {alias}.id"
        f" LEFT JOIN resolved r ON r.start_id = {alias}.next_clean_id"
    )


def changes_sql(scope: Scope) -> tuple[str, dict]:
    """Deployment frequency, change failure rate, recovery time and rework rate, per bucket and in total.

    Each deployment's own outcome is stored (``deployments.outcomes``: a failed change by itself,
    and the next clean success), so only the window's rows are read, once for the counts (from
    the index alone) and once for the failed changes, which incidents join: the deployments
    incidents are attributed to, from the window on (a deployment's incidents may start after
    ``until``, and so may those of the success that would recover it). Only the failed changes
    are joined to the incidents, and only their recovery times are sorted for the median.
    """
    params = _params(scope)
    project_filter = " AND project_id = %(project)s" if scope.project_id is not None else ""
    scoped = f"{_scope_sql('d', scope, params)} AND d.occurred_at >= %(since)s"
    window = f"{scoped} AND d.occurred_at < %(until)s"
    sql = f"""
    WITH RECURSIVE {incidents_ctes(params, scope.production_ids, scoped)},
    grouped AS (
        -- Grouped first and tested after: the tests run once per group, not once per row.
        SELECT {_bucket("d.occurred_at", scope)} AS k, d.status, d.is_fix OR d.is_hotfix AS fixes, COUNT(*) AS n
        FROM {DEPLOYMENT} d
        WHERE {window}
        GROUP BY 1, 2, 3
    ),
    counted AS (
        SELECT k,
               SUM(CASE WHEN status = 'success' THEN n ELSE 0 END) AS deployments,
               SUM(CASE WHEN status IN ('success', 'failure') THEN n ELSE 0 END) AS finished,
               SUM(CASE WHEN status = 'success' AND fixes THEN n ELSE 0 END) AS rework
        FROM grouped
        GROUP BY k
    ),
    base AS (
        SELECT k, deployments, finished, rework FROM counted
        UNION ALL
        -- The total row exists even with no deployment: it carries the unattributed incidents.
        SELECT {TOTAL}, COALESCE(SUM(deployments), 0), COALESCE(SUM(finished), 0), COALESCE(SUM(rework), 0)
        FROM counted
    ),
    failed AS (
        -- The window's failed changes: failed by themselves, or successes with incidents.
        SELECT d.id, d.occurred_at, d.status, d.failed_alone, d.next_clean_id, d.next_clean_at
        FROM {DEPLOYMENT} d
        WHERE {window} AND d.failed_alone
        UNION
        SELECT d.deployment_id, d.occurred_at, d.status, d.failed_alone, d.next_clean_id, d.next_clean_at
        FROM chained d
        WHERE {window} AND d.status = 'success'
    ),
    outcomes AS (
        SELECT {_bucket("f.occurred_at", scope)} AS k, f.occurred_at, {_outcome("f")}
        FROM failed f {_outcome_joins("f")}
    ),
    recoveries AS (
        -- With incidents: from the first one's start to the last one's end, none open.
        -- Without: until the next clean success without incidents.
        SELECT k,
               CASE WHEN has_incidents = 1 THEN CASE WHEN incidents_open > 0 THEN 1 ELSE 0 END
                    WHEN recovered_at IS NULL THEN 1 ELSE 0 END AS unrecovered,
               CASE WHEN has_incidents = 1 THEN incident_seconds
                    ELSE {_seconds("recovered_at", "occurred_at")} END AS recovery_seconds
        FROM outcomes
    ),
    expanded AS (
        SELECT k, unrecovered, recovery_seconds FROM recoveries
        UNION ALL
        SELECT {TOTAL}, unrecovered, recovery_seconds FROM recoveries
    ),
    outcome_counts AS (
        SELECT k, COUNT(*) AS failed, COUNT(recovery_seconds) AS recovered, SUM(unrecovered) AS unrecovered
        FROM expanded
        GROUP BY k
    ),
    medians AS ({_percentiles("expanded", "recovery_seconds", {"recovery_median": 0.5})}),
    unattributed AS (
        SELECT COUNT(*) AS unattributed FROM attributed_unlinked
        WHERE deployment_id IS NULL AND started_at < %(until)s
          AND environment_id {_ids_in("scope_env", scope.environment_ids, params)}{project_filter}
    )
    SELECT b.k, b.deployments, b.finished, COALESCE(c.failed, 0) AS failed, b.rework,
           COALESCE(c.recovered, 0) AS recovered, COALESCE(c.unrecovered, 0) AS unrecovered, m.recovery_median,
           CASE WHEN b.k = {TOTAL} THEN u.unattributed END AS unattributed
    FROM base b LEFT JOIN outcome_counts c ON c.k = b.k LEFT JOIN medians m ON m.k = b.k CROSS JOIN unattributed u
    """  # noqa: S608
    return sql, params


def changes(scope: Scope) -> dict[int, dict]:
    return _fetch(*changes_sql(scope))


class LeadRank(NamedTuple):
    """A lead time to read: the ``offset``-th smallest (0-based) of bin ``lead_bin`` in bucket ``k``."""

    k: int
    lead_bin: int
    offset: int


# The lead-time percentiles a request shows: the median per bucket and in total, the 90th in
# total only (the series shows no per-bucket p90, so it is not read: ``None`` there).
LEAD_PERCENTILES = {"lead_median": 0.5, "lead_p90": 0.9}

# SQLite refuses a compound SELECT of more than 500 terms; a year of day buckets needs more ranks
# than that, so they are read in nested groups of this many.
COMPOUND_TERMS = 400


def _lead_scope(scope: Scope, params: dict) -> str:
    """The scope's ``FirstDeployment`` rows ``f`` first deployed in the window."""
    params["environment_key"] = scope.environment_key
    params["project_key"] = FirstDeployment.ALL if scope.project_id is None else scope.project_id
    return (
        "f.organization_id = %(org)s AND f.environment_key = %(environment_key)s"
        " AND f.project_key = %(project_key)s AND f.occurred_at >= %(since)s AND f.occurred_at < %(until)s"
    )


def lead_time_counts_sql(scope: Scope) -> tuple[str, dict]:
    """Lead time's first statement: the commits counted per bucket and lead-time bin.

    A commit counts when its first successful deployment in scope falls in the window. The
    deployment services keep each commit's first successful deployment in every scope a request
    can ask for (``FirstDeployment``: one environment or every production one, one project or
    every project), with the commit's time and the bin of its lead time: so the scope's commits
    are one range of the ``deployments_first_scope_time`` index, read from the index alone, each
    row already the commit's first there. Lead times <= 0 (a commit time after its deployment:
    clock skew, rebases) are left out: their bin is -1.
    """
    params = _params(scope)
    sql = f"""
    SELECT {_bucket("f.occurred_at", scope)} AS bucket, f.lead_bin, COUNT(*) AS commits
    FROM {FIRST_DEPLOYMENT} f
    WHERE {_lead_scope(scope, params)} AND f.lead_bin >= 0
    GROUP BY 1, 2
    """  # noqa: S608
    return sql, params


def lead_runs(ranks: Sequence[LeadRank]) -> list[tuple[LeadRank, int]]:
    """The ranks as runs of consecutive offsets in one bin of one bucket, ``(first, length)``: a
    median's two neighbours are mostly one run, read by one subquery."""
    runs: list[tuple[LeadRank, int]] = []
    for rank in sorted(set(ranks)):
        if runs:
            first, length = runs[-1]
            if (first.k, first.lead_bin, first.offset + length) == (rank.k, rank.lead_bin, rank.offset):
                runs[-1] = (first, length + 1)
                continue
        runs.append((rank, 1))
    return runs


def lead_time_values_sql(scope: Scope, ranks: Sequence[LeadRank]) -> tuple[str, dict]:
    """Lead time's second statement: the lead times at ``ranks``, rows ``(tag, seconds)``, ``tag``
    the index of their run in ``lead_runs(ranks)`` (a run's values in any order).

    Each rank reads the rows of one bin in the window (of one bucket, or of all) through the
    ``deployments_first_scope_bin`` index and sorts them by the seconds. A bucket's rows are
    those whose bucket number is ``k``, by the very expression the counts grouped by, so a rank
    means the same row in both statements; the time range around the bucket, a second wider on
    each side, only lets the index narrow the read.
    """
    adapt = connection.ops.adapt_datetimefield_value
    params = _params(scope)
    where = _lead_scope(scope, params)
    parts = []
    for index, (rank, length) in enumerate(lead_runs(ranks)):
        params[f"bin{index}"], params[f"offset{index}"] = rank.lead_bin, rank.offset
        params[f"limit{index}"] = length
        bucket = ""
        if rank.k != TOTAL:
            start = scope.anchor + timedelta(seconds=scope.bucket_seconds * rank.k)
            params[f"k{index}"] = rank.k
            params[f"from{index}"] = adapt(start - timedelta(seconds=1))
            params[f"to{index}"] = adapt(start + timedelta(seconds=scope.bucket_seconds + 1))
            bucket = (
                f" AND f.occurred_at >= %(from{index})s AND f.occurred_at < %(to{index})s"
                f" AND {_bucket('f.occurred_at', scope)} = %(k{index})s"
            )
        # The ORDER BY and LIMIT sit in a subquery: SQLite allows them on a compound SELECT's whole
        # only. An unknown commit time falls back to when the tracker first saw the commit.
        parts.append(
            f"""SELECT {index} AS tag, seconds FROM (
                SELECT {_seconds("f.occurred_at", "f.committed_at")} AS seconds FROM {FIRST_DEPLOYMENT} f
                WHERE {where} AND f.lead_bin = %(bin{index})s{bucket}
                ORDER BY seconds LIMIT %(limit{index})s OFFSET %(offset{index})s
            ) q{index}"""  # noqa: S608
        )
    if len(parts) <= COMPOUND_TERMS:
        return "\n    UNION ALL\n    ".join(parts), params
    groups = []
    for number, start in enumerate(range(0, len(parts), COMPOUND_TERMS)):
        terms = " UNION ALL ".join(parts[start : start + COMPOUND_TERMS])
        groups.append(f"SELECT * FROM ({terms}) g{number}")  # noqa: S608
    return "\n    UNION ALL\n    ".join(groups), params


def _locate(bins: list[tuple[int, int]], rank: int) -> tuple[int, int]:
    """The bin holding the ``rank``-th smallest value (0-based) and its offset there, from
    ``(bin, count)`` in ascending bin order."""
    for lead_bin, count in bins:
        if rank < count:
            return lead_bin, rank
        rank -= count
    raise ValueError(f"rank {rank} beyond the counted values")


def lead_times(scope: Scope) -> dict[int, dict]:
    """Change lead time per bucket and in total (``k = -1``): the commits counted, the median and
    (in total) the 90th percentile.

    Exact, without sorting the window: the bins are monotone in the lead time, so with the counts
    per bin the rank a percentile needs is found in one bin, and only that bin's rows are read
    and sorted. The percentile is PostgreSQL's ``percentile_cont`` to the bit: with ``n`` values,
    position ``p * (n - 1)``, interpolated linearly (in floats, as its ``float8`` arithmetic) between
    the values at its floor and ceiling. Two statements, one when nothing is counted.
    """
    with connection.cursor() as cursor:
        cursor.execute(*lead_time_counts_sql(scope))
        counted = cursor.fetchall()
    bins: dict[int, dict[int, int]] = {}
    for bucket, lead_bin, commits in counted:
        for k in (bucket, TOTAL):
            per_bin = bins.setdefault(k, {})
            per_bin[lead_bin] = per_bin.get(lead_bin, 0) + commits
    if not bins:
        return {}

    result: dict[int, dict] = {}
    wanted: dict[tuple[int, str], tuple[float, int, int, LeadRank, LeadRank]] = {}
    for k, per_bin in bins.items():
        ordered = sorted(per_bin.items())
        n = sum(per_bin.values())
        result[k] = {"k": k, "commits": n, "lead_median": None, "lead_p90": None}
        for name, p in LEAD_PERCENTILES.items():
            if k == TOTAL or name == "lead_median":
                position = p * (n - 1)
                low, high = math.floor(position), math.ceil(position)
                wanted[k, name] = (
                    position,
                    low,
                    high,
                    LeadRank(k, *_locate(ordered, low)),
                    LeadRank(k, *_locate(ordered, high)),
                )
    ranks = list(dict.fromkeys(rank for *_, low_rank, high_rank in wanted.values() for rank in (low_rank, high_rank)))
    with connection.cursor() as cursor:
        cursor.execute(*lead_time_values_sql(scope, ranks))
        rows = cursor.fetchall()
    read: dict[int, list[float]] = {}
    for tag, seconds in rows:
        read.setdefault(tag, []).append(seconds)
    values = {}
    for tag, (first, _) in enumerate(lead_runs(ranks)):
        for index, seconds in enumerate(sorted(read[tag])):
            values[first._replace(offset=first.offset + index)] = seconds
    for (k, name), (position, low, high, low_rank, high_rank) in wanted.items():
        low_value = values[low_rank]
        result[k][name] = low_value if high == low else low_value + (values[high_rank] - low_value) * (position - low)
    return result


# The pages' view of the same definitions ---------------------------------------------------------


def failed_change_ids_sql(organization_id: int, since: datetime | None, until: datetime | None) -> tuple[str, dict]:
    """The ids of the organization's failed changes in ``[since, until)`` (either end open), in
    every environment: the deployments the metrics count as ``failed``."""
    adapt = connection.ops.adapt_datetimefield_value
    params: dict = {"org": organization_id}
    window = "d.organization_id = %(org)s"
    if since is not None:
        params["since"] = adapt(since)
        window += " AND d.occurred_at >= %(since)s"
    if until is not None:
        params["until"] = adapt(until)
        window += " AND d.occurred_at < %(until)s"
    sql = f"""
    WITH RECURSIVE {incidents_ctes(params, None, window, since=since is not None)}
    SELECT d.id FROM {DEPLOYMENT} d LEFT JOIN incidents_of o ON o.deployment_id = d.id
    WHERE {window} AND {_failed_change("d")}
    """  # noqa: S608
    return sql, params


def recoveries_sql(
    organization_id: int, since: datetime, environment_ids: Sequence[int], ids: Sequence[int]
) -> tuple[str, dict]:
    """For the failed changes among ``ids`` (in ``environment_ids``, none earlier than
    ``since``): the id of the deployment that recovered it (the next success in its environment
    and project that is not a failed change), ``has_incidents`` (1 when incidents are attributed
    to it) and ``incident_seconds``, from the first one's start to the last one's end (NULL while
    one is open): the metrics' recovery time of an incident.

    The incidents read are those of every deployment in those environments from ``since`` on:
    the successes that would recover a row come after it, and their incidents decide.
    """
    params: dict = {"org": organization_id, "since": connection.ops.adapt_datetimefield_value(since)}
    streams = (
        f"d.organization_id = %(org)s AND d.environment_id {_ids_in('env', environment_ids, params)}"
        " AND d.occurred_at >= %(since)s"
    )
    page = f"d.organization_id = %(org)s AND d.id {_ids_in('page', ids, params)}"
    sql = f"""
    WITH RECURSIVE {incidents_ctes(params, None, streams)},
    outcomes AS (SELECT d.id, {_outcome()} FROM {DEPLOYMENT} d {_outcome_joins()} WHERE {page})
    SELECT id, recovered_by, has_incidents, incident_seconds
    FROM outcomes
    WHERE failed_change = 1
    """  # noqa: S608
    return sql, params


def recoveries(organization_id: int, since: datetime, environment_ids: Sequence[int], ids: Sequence[int]) -> list[dict]:
    return list(_fetch(*recoveries_sql(organization_id, since, environment_ids, ids)).values())
