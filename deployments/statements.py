"""The fixed SQL of recording a deployment (releasetracker/rawsql.py says why it is fixed SQL).

``deployments.services.deployment_record`` decides what to write; this module builds and runs
the statements:

- ``find``: one SELECT for the environment, release and project a new deployment names, whether
  the organization has an active webhook endpoint, a deployment with the same external id, and
  whether a bare sha is already a known commit.
- ``find_and_insert`` (PostgreSQL): the same SELECT and, in the same statement, the INSERT of the
  deployment and its first status change when everything it names exists and nothing else must
  happen in the transaction: one round trip, atomic on its own, for the common CI call.
- ``insert``: the deployment and its first status change once everything is known.
- ``rollback_exists``: the automatic rollback test, inside the INSERT or on its own.

Every statement names the organization; tenancy is the same as in the ORM queries it replaces.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.db.backends.base.base import BaseDatabaseWrapper

from deployments.models import Deployment, DeploymentStatus, DeploymentStatusChange, Environment
from releases.models import Project, Release
from releasetracker.models import Organization
from releasetracker.rawsql import Table, fetchone, mark_saved, relate

# What a new deployment, its answer and its webhook payload read of the rows it refers to; the
# rest (timestamps, a release's possibly large create payload) stays deferred.
ENVIRONMENTS = Table(Environment, only=["organization_id", "public_id", "name", "is_production"])
RELEASES = Table(Release, only=["organization_id", "public_id", "version", "name", "status"])
PROJECTS = Table(Project, only=["organization_id", "public_id", "name"])
DEPLOYMENTS = Table(Deployment)
STATUS_CHANGES = Table(DeploymentStatusChange)
_OCCURRED_AT = Deployment._meta.get_field("occurred_at")

# Positions in a ``find`` row.
_ENV_AT = 0
_RELEASE_AT = _ENV_AT + len(ENVIRONMENTS.fields)
_PROJECT_AT = _RELEASE_AT + len(RELEASES.fields)
_EXTRAS_AT = _PROJECT_AT + len(PROJECTS.fields)
_COLUMNS = _EXTRAS_AT + 3  # has_webhooks, existing_id, commit_known

# How the release of a new deployment is named: by row, by version, by a sha it contains, or not at all.
_RELEASE_BY = {
    "id": "r.id = %(release_id)s",
    "version": "r.version = %(version)s",
    # A bare sha attaches to the release that contains it, when exactly one does. CI often
    # sends the abbreviated sha (7+ digits) of a commit the release lists in full.
    "sha": (
        "r.id = (SELECT MIN(rc.release_id) FROM releases_releasecommit rc"
        " JOIN releases_commit c ON c.id = rc.commit_id"
        " WHERE rc.organization_id = %(org)s AND c.organization_id = %(org)s AND {sha_match}"
        " HAVING COUNT(DISTINCT rc.release_id) = 1)"
    ),
    "none": "1 = 0",
}


@dataclass(frozen=True)
class Lookup:
    """What a new deployment names, as the caller sent it (after the services' input rules)."""

    organization: Organization
    environment: str
    release: Release | None  # a row the caller already has
    version: str
    sha: str
    project: str | None
    external_id: str

    @property
    def release_by(self) -> str:
        return "id" if self.release is not None else "version" if self.version else "sha" if self.sha else "none"

    def params(self) -> dict:
        return {
            "org": self.organization.pk,
            "environment": self.environment,
            "release_id": self.release.pk if self.release is not None else None,
            "version": self.version,
            "sha": self.sha,
            "sha_prefix": f"{self.sha}%",  # shas are hex digits: nothing to escape
            "sha_end": f"{self.sha}g",  # above every sha that starts with this one ("g" > "f")
            "project": self.project or "",
            "external_id": self.external_id,
        }


@dataclass(frozen=True)
class Found:
    environment: Environment | None
    release: Release | None
    project: Project | None
    has_webhooks: bool
    existing_id: int | None  # the deployment with the same external id in this environment
    commit_known: bool | None  # for a bare sha: a commit with (or abbreviated by) this sha exists


def _sha_prefix_match(column: str) -> str:
    """``column`` starts with the sha sent (a full sha, or an abbreviation of the stored one).

    The range lets the (organization, sha) index find the rows under any collation and with a
    generic plan; a LIKE alone scans every commit of the organization (28 ms at 250,000 commits).
    The LIKE keeps the test exact whatever the collation orders.
    """
    return f"{column} >= %(sha)s AND {column} < %(sha_end)s AND {column} LIKE %(sha_prefix)s"


@functools.cache
def _find_sql(release_by: str, *, full_sha: bool, project_named: bool, external_id: bool) -> str:
    sha_match = "c.sha = %(sha)s" if full_sha else _sha_prefix_match("c.sha")
    release_on = _RELEASE_BY[release_by].format(sha_match=sha_match)
    if project_named:
        project_on = "p.name = %(project)s"
    else:
        # A release of a single project deploys that project.
        project_on = (
            "p.id = (SELECT MIN(rp.project_id) FROM releases_releaseproject rp"
            " WHERE rp.organization_id = %(org)s AND rp.release_id = r.id HAVING COUNT(*) = 1)"
        )
    existing = (
        "(SELECT x.id FROM deployments_deployment x WHERE x.organization_id = %(org)s"
        " AND x.environment_id = e.id AND x.external_id = %(external_id)s)"
        if external_id
        else "NULL"
    )
    known_commit = (
        f"EXISTS (SELECT 1 FROM releases_commit k WHERE k.organization_id = %(org)s AND {_sha_prefix_match('k.sha')})"  # noqa: S608
        if release_by == "sha"
        else "NULL"
    )
    return (
        f"SELECT {ENVIRONMENTS.columns('e')}, {RELEASES.columns('r')}, {PROJECTS.columns('p')},"  # noqa: S608
        " EXISTS (SELECT 1 FROM webhooks_webhookendpoint w WHERE w.organization_id = %(org)s AND w.is_active),"
        f" {existing}, {known_commit}"
        " FROM (SELECT 1 AS one) base"
        " LEFT JOIN deployments_environment e ON e.organization_id = %(org)s AND e.name = %(environment)s"
        f" LEFT JOIN releases_release r ON r.organization_id = %(org)s AND {release_on}"
        f" LEFT JOIN releases_project p ON p.organization_id = %(org)s AND {project_on}"
    )


def _find_sql_for(lookup: Lookup) -> str:
    return _find_sql(
        lookup.release_by,
        full_sha=len(lookup.sha) >= 40,
        project_named=bool(lookup.project),
        external_id=bool(lookup.external_id),
    )


def _found(row: tuple, connection: BaseDatabaseWrapper) -> Found:
    has_webhooks, existing_id, commit_known = row[_EXTRAS_AT:_COLUMNS]
    return Found(
        environment=ENVIRONMENTS.read(connection, row, _ENV_AT),
        release=RELEASES.read(connection, row, _RELEASE_AT),
        project=PROJECTS.read(connection, row, _PROJECT_AT),
        has_webhooks=bool(has_webhooks),
        existing_id=existing_id,
        commit_known=None if commit_known is None else bool(commit_known),
    )


def find(lookup: Lookup, connection: BaseDatabaseWrapper) -> Found:
    return _found(fetchone(connection, _find_sql_for(lookup), lookup.params()), connection)


@functools.cache
def rollback_exists(*, by_release: bool, project: str, exclude_self: bool, environment: str, release: str) -> str:
    """An ``EXISTS (...)`` that is true when a deployment puts back what was live before the one it replaces.

    "Live before" is the latest earlier successful deployment to the same environment and
    project; the target is the release, or the sha of a deployment without one. ``environment``
    and ``release`` are SQL (a parameter, or a column of ``find_and_insert``'s lookup);
    ``project`` is the predicate on a project column (``= ...``, ``IS NULL``, ...). Other
    parameters are named ``rb_*`` (``rollback_params``).
    """
    other_target = (
        f"({{t}}.release_id IS NULL OR {{t}}.release_id <> {release})"
        if by_release
        else "({t}.release_id IS NOT NULL OR {t}.commit_sha <> %(rb_sha)s)"
    )
    not_self = " AND {t}.id <> %(rb_pk)s" if exclude_self else ""
    in_place = (
        f"{{t}}.environment_id = {environment} AND {{t}}.project_id {project} AND {{t}}.status = 'success'{not_self}"
    )
    scope = f"{{t}}.organization_id = %(rb_org)s AND {in_place}"
    if by_release:
        # The release's own earlier deployments, through the index that starts with the
        # release (deployments_release_env_time): a few rows, however long the history. The
        # release is this organization's, and so are its deployments; naming the organization
        # here as well would let the planner walk the organization's whole history by time
        # instead (hundreds of milliseconds at 700,000 deployments when it misjudged how many
        # deployments a release has).
        earlier = f"prev.release_id = {release} AND {in_place.format(t='prev')}"
    else:
        earlier = f"{scope.format(t='prev')} AND prev.release_id IS NULL AND prev.commit_sha = %(rb_sha)s"
    # The deployment live just before this one (0 or 1 row); when it is of another target,
    # whether this target was live at some time before it. The outer scan over at most one row
    # means the history is searched only when the live deployment differs.
    return (
        "EXISTS (SELECT 1 FROM ("  # noqa: S608
        f" SELECT l.release_id, l.commit_sha, l.occurred_at FROM deployments_deployment l WHERE {scope.format(t='l')}"
        " AND l.occurred_at < %(rb_at)s ORDER BY l.occurred_at DESC, l.id DESC LIMIT 1"
        f") live WHERE {other_target.format(t='live')}"
        " AND EXISTS (SELECT 1 FROM deployments_deployment prev"
        f" WHERE {earlier} AND prev.occurred_at < live.occurred_at))"
    )


def may_be_rollback(deployment: Deployment) -> bool:
    return (
        not deployment.is_rollback
        and deployment.status == DeploymentStatus.SUCCESS
        and bool(deployment.release_id or deployment.commit_sha)
    )


def rollback_params(deployment: Deployment, connection: BaseDatabaseWrapper) -> dict:
    return {
        "rb_org": deployment.organization_id,
        "rb_environment": deployment.environment_id,
        "rb_project": deployment.project_id,
        "rb_release": deployment.release_id,
        "rb_sha": deployment.commit_sha,
        "rb_pk": deployment.pk,
        "rb_at": _OCCURRED_AT.get_db_prep_value(deployment.occurred_at, connection),
    }


def _rollback_of(deployment: Deployment) -> str:
    return rollback_exists(
        by_release=bool(deployment.release_id),
        project="= %(rb_project)s" if deployment.project_id is not None else "IS NULL",
        exclude_self=deployment.pk is not None,
        environment="%(rb_environment)s",
        release="%(rb_release)s",
    )


def is_rollback(deployment: Deployment, connection: BaseDatabaseWrapper) -> bool:
    """The rollback test on its own (a status change to success)."""
    if not may_be_rollback(deployment):
        return False
    row = fetchone(connection, f"SELECT {_rollback_of(deployment)}", rollback_params(deployment, connection))
    return bool(row[0])


@functools.cache
def _insert_sql(rollback: str) -> str:
    """PostgreSQL: the deployment and its first status change in one statement, atomic without a transaction."""
    is_rollback_value = f"(%(d_is_rollback)s OR {rollback})" if rollback else "%(d_is_rollback)s"
    deployment_values = DEPLOYMENTS.insert_placeholders("d_", overrides={"is_rollback": is_rollback_value})
    change_values = STATUS_CHANGES.insert_placeholders("s_", overrides={"deployment_id": "d.id"})
    return (
        f"WITH d AS (INSERT INTO deployments_deployment ({DEPLOYMENTS.insert_columns()})"  # noqa: S608
        f" VALUES ({deployment_values}) RETURNING id, is_rollback),"
        f" s AS (INSERT INTO deployments_deploymentstatuschange ({STATUS_CHANGES.insert_columns()})"
        f" SELECT {change_values} FROM d RETURNING id)"
        " SELECT d.id, d.is_rollback, s.id FROM d CROSS JOIN s"
    )


def _saved(deployment: Deployment, change: DeploymentStatusChange, row: tuple, connection) -> None:
    deployment_id, rollback, change_id = row
    mark_saved(deployment, deployment_id, connection)
    deployment.is_rollback = bool(rollback)
    relate(change, "deployment", deployment)
    mark_saved(change, change_id, connection)


def insert(deployment: Deployment, change: DeploymentStatusChange, connection: BaseDatabaseWrapper) -> None:
    """INSERT a new deployment and its first status change, deciding ``is_rollback`` on the way.

    On PostgreSQL one statement does all three; elsewhere (SQLite) the rollback test, then the
    two INSERTs, inside the caller's transaction.
    """
    check = may_be_rollback(deployment)
    if connection.vendor != "postgresql":
        if check:
            deployment.is_rollback = is_rollback(deployment, connection)
        DEPLOYMENTS.insert(deployment, connection)
        relate(change, "deployment", deployment)
        STATUS_CHANGES.insert(change, connection)
        return
    params = DEPLOYMENTS.insert_params(deployment, connection, "d_")
    params.update(STATUS_CHANGES.insert_params(change, connection, "s_"))
    if check:
        params.update(rollback_params(deployment, connection))
    _saved(
        deployment,
        change,
        fetchone(connection, _insert_sql(_rollback_of(deployment) if check else ""), params),
        connection,
    )


def can_find_and_insert(lookup: Lookup, connection: BaseDatabaseWrapper) -> bool:
    """Whether ``find_and_insert`` applies: PostgreSQL, a release named by row or version, no external id."""
    return connection.vendor == "postgresql" and lookup.release_by in ("id", "version") and not lookup.external_id


@functools.cache
def _find_and_insert_sql(
    find_sql: str, *, project_named: bool, rollback: bool, casts: tuple[tuple[str, ...], tuple[str, ...]]
) -> str:
    names = [f"c{i}" for i in range(_COLUMNS)]
    environment, release, project, has_webhooks = (
        f"ctx.c{_ENV_AT}",
        f"ctx.c{_RELEASE_AT}",
        f"ctx.c{_PROJECT_AT}",
        f"ctx.c{_EXTRAS_AT}",
    )
    is_rollback_value = "CAST(%(d_is_rollback)s AS boolean)"
    if rollback:
        check = rollback_exists(
            by_release=True,
            # A named project is found (or nothing is inserted); a release's own project may be none.
            project=f"= {project}" if project_named else f"IS NOT DISTINCT FROM {project}",
            exclude_self=False,
            environment=environment,
            release=release,
        )
        is_rollback_value = f"({is_rollback_value} OR {check})"
    deployment_values = DEPLOYMENTS.insert_placeholders(
        "d_",
        overrides={
            "environment_id": environment,
            "release_id": release,
            "project_id": project,
            "is_rollback": is_rollback_value,
        },
        casts=casts[0],
    )
    change_values = STATUS_CHANGES.insert_placeholders("s_", overrides={"deployment_id": "d.id"}, casts=casts[1])
    complete = [f"{environment} IS NOT NULL", f"{release} IS NOT NULL", f"NOT {has_webhooks}"]
    if project_named:
        complete.append(f"{project} IS NOT NULL")
    return (
        f"WITH ctx ({', '.join(names)}) AS ({find_sql}),"  # noqa: S608
        f" d AS (INSERT INTO deployments_deployment ({DEPLOYMENTS.insert_columns()})"
        f" SELECT {deployment_values} FROM ctx WHERE {' AND '.join(complete)} RETURNING id, is_rollback),"
        f" s AS (INSERT INTO deployments_deploymentstatuschange ({STATUS_CHANGES.insert_columns()})"
        f" SELECT {change_values} FROM d RETURNING id)"
        " SELECT ctx.*, d.id, d.is_rollback, s.id FROM ctx LEFT JOIN d ON TRUE LEFT JOIN s ON TRUE"
    )


_CASTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
# Columns ``find_and_insert`` fills from what it finds (or inserts), not from parameters.
_FOUND_COLUMNS = frozenset({"environment_id", "release_id", "project_id"})
_INSERTED_DEPLOYMENT = frozenset({"deployment_id"})


def _casts(connection: BaseDatabaseWrapper) -> tuple[tuple[str, ...], tuple[str, ...]]:
    found = _CASTS.get(connection.alias)
    if found is None:
        found = _CASTS[connection.alias] = (DEPLOYMENTS.cast_types(connection), STATUS_CHANGES.cast_types(connection))
    return found


def find_and_insert(
    lookup: Lookup, deployment: Deployment, change: DeploymentStatusChange, connection: BaseDatabaseWrapper
) -> tuple[Found, bool]:
    """``find``, and the INSERT of ``deployment`` and ``change`` in the same statement when it can.

    ``deployment`` carries everything but its environment, release and project (the statement
    takes them from what it finds). It is inserted when all three are found (a release's single
    project, or none, when no project is named) and the organization has no active webhook
    endpoint (whose deliveries must be queued in the same transaction). Returns what was found
    and whether the rows were inserted; when they were, ``deployment`` is complete.
    """
    rollback = deployment.status == DeploymentStatus.SUCCESS and not deployment.is_rollback
    sql = _find_and_insert_sql(
        _find_sql_for(lookup), project_named=bool(lookup.project), rollback=rollback, casts=_casts(connection)
    )
    params = lookup.params()
    params.update(DEPLOYMENTS.insert_params(deployment, connection, "d_", skip=_FOUND_COLUMNS))
    params.update(STATUS_CHANGES.insert_params(change, connection, "s_", skip=_INSERTED_DEPLOYMENT))
    if rollback:
        params.update(
            rb_org=lookup.organization.pk, rb_at=_OCCURRED_AT.get_db_prep_value(deployment.occurred_at, connection)
        )
    row = fetchone(connection, sql, params)
    found = _found(row, connection)
    if row[_COLUMNS] is None:
        return found, False
    relate(deployment, "environment", found.environment)
    if deployment.release_id is None:
        relate(deployment, "release", found.release)
    relate(deployment, "project", found.project)
    _saved(deployment, change, row[_COLUMNS:], connection)
    return found, True
