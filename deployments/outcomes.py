"""Keeping each deployment's own outcome: what change failure rate and recovery time read.

A deployment's stream is its environment and project (no project is a stream of its own). In its
stream, a deployment is a failed change *by itself* (``failed_alone``) when it failed, or when it
succeeded and carries the ``is_failure`` tag or is the last success before a hotfix or a rollback
(DESIGN.md, docs/metrics.md). A *clean* success is a success that is not: ``next_clean`` (with
its time, ``next_clean_at``) is the first clean success after a deployment in its stream, where
a failed change's recovery ends. Incidents are left to the read (``metrics.queries``): an
incident can make a clean success a failed change, and the read then walks ``next_clean`` on to
the next clean success with no incident. So these columns depend only on the stream's own
deployments: their order (``occurred_at``, then id), status, tags and hotfix and rollback flags.

Every write that can change one of those calls ``outcomes_refresh`` in its own transaction: a
deployment recorded, a status change (which can also move it in time, or clear a detected
rollback), and the admin's deletion of a deployment or of a project (whose deployments join the
stream without a project). Each takes its environment's lock (``outcomes_lock``) before it locks
any deployment row. Only a bounded stretch of the stream is recomputed. A change at
position ``p`` can change what comes before it only back to the last success before ``p``
(``F``: a hotfix or rollback at ``p`` makes it a failed change), and the ``next_clean`` of the
rows after the last clean success before ``F`` (``P``, which keeps its outcome: what decides it
lies before ``F``). Nothing after ``p`` depends on ``p``. So the stretch runs from ``P`` (or an
earlier clean success: the second latest stored as clean before ``p``, one index probe) to the
first clean success after ``p`` (``N``, whose own outcome is unchanged), read and recomputed by
the same SQL that fills every stream from scratch (``outcomes_fill``: the migration, the
benchmark's bulk seed and the tests that compare both). Two writes to one environment take
turns on its row lock, so each recomputation sees the other's deployments.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.db.models import Q

from deployments.models import Deployment, DeploymentStatus, Environment

DEPLOYMENT = Deployment._meta.db_table
SUCCESS = DeploymentStatus.SUCCESS


def tagged_failure(alias: str) -> str:
    """1 when deployment ``alias`` carries the ``is_failure`` tag, else 0 (PostgreSQL and SQLite)."""
    if connection.vendor == "postgresql":
        return f"""(CASE WHEN {alias}.tags @> '["is_failure"]'::jsonb THEN 1 ELSE 0 END)"""
    return (
        f"(CASE WHEN EXISTS (SELECT 1 FROM json_each({alias}.tags) WHERE json_each.value = 'is_failure')"  # noqa: S608
        " THEN 1 ELSE 0 END)"
    )


def _computed(where: str) -> str:
    """CTEs ending in ``computed``: for the deployments ``d`` that ``where`` selects (whole streams,
    or one stretch of one), ``failed`` (0/1), ``next_clean_id`` and ``next_clean_at``.

    A stretch must start at a clean success or at its stream's start, and end at a clean success
    or at its stream's end: inside it, these are then the values over the whole stream.
    """
    stream = "environment_id, project_key"
    order = "ORDER BY occurred_at, id ROWS UNBOUNDED PRECEDING"
    return f"""
    numbered AS (
        SELECT d.id, d.occurred_at, d.status, d.environment_id, COALESCE(d.project_id, 0) AS project_key,
               d.is_hotfix OR d.is_rollback AS remedies, {tagged_failure("d")} AS tagged_failure,
               -- Successes so far in the stream: numbers each success, and gives every other row
               -- the number of the last success at or before it.
               SUM(CASE WHEN d.status = '{SUCCESS}' THEN 1 ELSE 0 END) OVER (
                   PARTITION BY d.environment_id, COALESCE(d.project_id, 0) ORDER BY d.occurred_at, d.id
                   ROWS UNBOUNDED PRECEDING
               ) AS success_no
        FROM {DEPLOYMENT} d
        WHERE {where}
    ),
    remediated AS (
        -- The last success strictly before each hotfix or rollback.
        SELECT DISTINCT {stream}, success_no - CASE WHEN status = '{SUCCESS}' THEN 1 ELSE 0 END AS success_no
        FROM numbered
        WHERE remedies
    ),
    flagged AS (
        SELECT n.id, n.occurred_at, n.environment_id, n.project_key,
               CASE WHEN n.status = 'failure'
                      OR (n.status = '{SUCCESS}' AND (n.tagged_failure = 1 OR r.success_no IS NOT NULL))
                    THEN 1 ELSE 0 END AS failed,
               CASE WHEN n.status = '{SUCCESS}' AND n.tagged_failure = 0 AND r.success_no IS NULL
                    THEN 1 ELSE 0 END AS clean
        FROM numbered n
        LEFT JOIN remediated r
          ON n.status = '{SUCCESS}' AND r.environment_id = n.environment_id AND r.project_key = n.project_key
         AND r.success_no = n.success_no
    ),
    counted AS (
        -- Clean successes so far: the next one after a row is number clean_no + 1.
        SELECT f.*, SUM(f.clean) OVER (PARTITION BY {stream} {order}) AS clean_no
        FROM flagged f
    ),
    computed AS (
        SELECT c.id, c.occurred_at, c.failed, g.id AS next_clean_id, g.occurred_at AS next_clean_at
        FROM counted c
        LEFT JOIN counted g
          ON g.clean = 1 AND g.environment_id = c.environment_id AND g.project_key = c.project_key
         AND g.clean_no = c.clean_no + 1
    )"""  # noqa: S608


def _update(where: str, params: dict, *, before: tuple[datetime, int] | None = None) -> None:
    """Store the computed values of the rows ``where`` selects that differ from the stored ones,
    up to (not including) position ``before``."""
    postgres = connection.vendor == "postgresql"
    distinct = "IS DISTINCT FROM" if postgres else "IS NOT"
    failed = "(c.failed = 1)" if postgres else "c.failed"
    upto = ""
    if before is not None:
        adapt = connection.ops.adapt_datetimefield_value
        params = {**params, "end_at": adapt(before[0]), "end_id": before[1]}
        upto = " AND (c.occurred_at < %(end_at)s OR (c.occurred_at = %(end_at)s AND c.id < %(end_id)s))"
    sql = f"""
    WITH {_computed(where)}
    UPDATE {DEPLOYMENT} SET failed_alone = {failed}, next_clean_id = c.next_clean_id, next_clean_at = c.next_clean_at
    FROM computed c
    WHERE {DEPLOYMENT}.id = c.id{upto}
      AND ({DEPLOYMENT}.failed_alone {distinct} {failed} OR {DEPLOYMENT}.next_clean_id {distinct} c.next_clean_id
           OR {DEPLOYMENT}.next_clean_at {distinct} c.next_clean_at)
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def outcomes_fill(*, organization_id: int | None = None) -> None:
    """Recompute every deployment's outcome (of one organization, or of all) from scratch."""
    if organization_id is None:
        _update("1 = 1", {})
    else:
        _update("d.organization_id = %(org)s", {"org": organization_id})


def _streams_sql(organization_id: int, environment_ids: Iterable[int], project_id: int | None) -> tuple[str, dict]:
    """The deployments ``d`` of one project (or of none) in these environments: whole streams."""
    params: dict = {"org": organization_id}
    names = []
    for index, environment_id in enumerate(environment_ids):
        params[f"env{index}"] = environment_id
        names.append(f"%(env{index})s")
    where = f"d.organization_id = %(org)s AND d.environment_id IN ({', '.join(names)})"
    if project_id is None:
        return f"{where} AND d.project_id IS NULL", params
    params["project"] = project_id
    return f"{where} AND d.project_id = %(project)s", params


def _before(at: datetime, pk: int) -> Q:
    # The first condition bounds the index range; the others pick the rows strictly before.
    return Q(occurred_at__lte=at) & (Q(occurred_at__lt=at) | Q(pk__lt=pk))


def _after(at: datetime, pk: int) -> Q:
    return Q(occurred_at__gte=at) & (Q(occurred_at__gt=at) | Q(pk__gt=pk))


def outcomes_lock(environment_ids: Iterable[int]) -> None:
    """Writes to one environment's outcomes take turns (PostgreSQL; SQLite writes one at a time).

    Taken before any deployment row of the environment is locked, by every write that will
    recompute outcomes there (the services and the admin's deletions call it first): a stretch's
    ``UPDATE`` locks deployment rows while holding it, so taking it after one would deadlock with
    a write waiting for that row. Several environments are locked in id order; taking it again in
    the same transaction costs nothing.
    """
    ids = sorted(set(environment_ids))
    list(Environment.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))


def outcomes_refresh(
    *, organization_id: int, environment_id: int, project_id: int | None, positions: Iterable[tuple[datetime, int]]
) -> None:
    """Deployments of one stream changed at ``positions`` (``(occurred_at, id)``: where a
    deployment is now, was before a change, or was before its deletion): recompute the stretch of
    the stream they can change (the module's docstring says why it is enough)."""
    positions = sorted(positions)
    low, high = positions[0], positions[-1]
    outcomes_lock([environment_id])
    stream = Deployment.objects.filter(
        organization_id=organization_id, environment_id=environment_id, project_id=project_id
    )
    clean = stream.filter(status=SUCCESS, failed_alone=False).order_by("-occurred_at", "-pk")
    # The clean success before the latest one before ``low``: the latest may be ``F`` itself (its
    # stored value is the one the change may overturn), so the one before it is ``P`` or earlier.
    start = next(iter(clean.filter(_before(*low)).values_list("occurred_at", "pk")[1:2]), None)
    end = clean.filter(_after(*high)).order_by("occurred_at", "pk").values_list("occurred_at", "pk").first()
    adapt = connection.ops.adapt_datetimefield_value
    where, params = _streams_sql(organization_id, [environment_id], project_id)
    if start is not None:
        params.update(start_at=adapt(start[0]), start_id=start[1])
        where += " AND d.occurred_at >= %(start_at)s AND (d.occurred_at > %(start_at)s OR d.id >= %(start_id)s)"
    if end is not None:
        params.update(stop_at=adapt(end[0]), stop_id=end[1])
        where += " AND d.occurred_at <= %(stop_at)s AND (d.occurred_at < %(stop_at)s OR d.id <= %(stop_id)s)"
    _update(where, params, before=end)


def outcomes_refresh_deployment(deployment: Deployment, *, was_at: datetime | None = None) -> None:
    """``deployment`` was recorded, or changed (it was at ``was_at`` before), or was deleted."""
    positions = [(deployment.occurred_at, deployment.pk)]
    if was_at is not None:
        positions.append((was_at, deployment.pk))
    outcomes_refresh(
        organization_id=deployment.organization_id,
        environment_id=deployment.environment_id,
        project_id=deployment.project_id,
        positions=positions,
    )


def outcomes_refresh_streams(*, organization_id: int, environment_ids: Iterable[int]) -> None:
    """Recompute the streams without a project of these environments from scratch: a deleted
    project's deployments joined them."""
    environment_ids = sorted(set(environment_ids))
    outcomes_lock(environment_ids)
    _update(*_streams_sql(organization_id, environment_ids, None))
