"""Keeping ``FirstDeployment`` exact: each commit's first successful deployment per environment and project.

The rows are a function of three things: the successful deployments (their environment, project
and time), the commits of their releases, and, for a deployment without a release, the commit
that has its sha. So every write that can change one of those calls in here, inside its own
transaction:

- a deployment recorded as a success, or becoming one (``first_deployments_add_deployment``);
- a success that stops being one (``first_deployments_remove_deployment``): the rows it held are
  recomputed from the deployments that remain;
- commits appended to a release that was already deployed (``first_deployments_add_release_commits``);
- a commit stored with the sha of an earlier deployment without a release
  (``first_deployments_add_commits``).

Adding a success can only make a first deployment earlier, so the adds are one
``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` that keeps the earlier of the stored row and
the new one: concurrent adds to the same row wait on its lock and both end exact. The SQL is the
same on PostgreSQL and SQLite (3.24+). ``first_deployments_fill`` computes everything from scratch,
for the migration, the benchmark's bulk seed and the tests that compare both.
"""

from collections.abc import Sequence

from django.db import connection
from django.utils import timezone

from deployments.models import Deployment, DeploymentStatus, Environment, FirstDeployment
from releases.models import Commit, ReleaseCommit

FIRST = FirstDeployment._meta.db_table
DEPLOYMENT = Deployment._meta.db_table
COMMIT = Commit._meta.db_table
RELEASE_COMMIT = ReleaseCommit._meta.db_table

# Ids per statement: well under SQLite's parameter limit; PostgreSQL has none worth the name, so
# there one statement takes all the ids a request can bring and the query count stays constant.
SQLITE_CHUNK = 500
CHUNK = 20_000

NEVER = "1 = 0"


def _sources(release_filter: str, bare_filter: str) -> str:
    """Each successful deployment's commits (as in the lead-time definition), filtered.

    A deployment's commits are its release's commits, or the commit with its own sha when it
    has no release (``d`` is the deployment, ``rc`` the release's commit link, ``c`` the commit).
    """
    return f"""
        SELECT d.organization_id, rc.commit_id, d.environment_id, COALESCE(d.project_id, 0) AS project_key,
               d.id AS deployment_id, d.occurred_at
        FROM {DEPLOYMENT} d JOIN {RELEASE_COMMIT} rc ON rc.release_id = d.release_id
        WHERE d.status = '{DeploymentStatus.SUCCESS}' AND {release_filter}
        UNION ALL
        SELECT d.organization_id, c.id AS commit_id, d.environment_id, COALESCE(d.project_id, 0) AS project_key,
               d.id AS deployment_id, d.occurred_at
        FROM {DEPLOYMENT} d JOIN {COMMIT} c ON c.organization_id = d.organization_id AND c.sha = d.commit_sha
        WHERE d.release_id IS NULL AND d.status = '{DeploymentStatus.SUCCESS}' AND {bare_filter}"""  # noqa: S608


def _upsert_earliest(release_filter: str, bare_filter: str, params: dict, *, empty: bool = False) -> None:
    """Store the earliest of the filtered sources per row, unless the stored row is earlier already.

    ``empty``: no row of these sources is stored, so a plain insert does (the benchmark's bulk
    load drops the unique constraint the conflict clause needs).
    """
    params = {**params, "now": connection.ops.adapt_datetimefield_value(timezone.now())}
    sql = f"""
    INSERT INTO {FIRST} (organization_id, commit_id, environment_id, project_key, deployment_id, occurred_at,
                         created_at, updated_at)
    SELECT organization_id, commit_id, environment_id, project_key, deployment_id, occurred_at, %(now)s, %(now)s
    FROM (
        SELECT s.*, ROW_NUMBER() OVER (
                   PARTITION BY commit_id, environment_id, project_key ORDER BY occurred_at, deployment_id
               ) AS n
        FROM ({_sources(release_filter, bare_filter)}) s
    ) ranked
    WHERE n = 1
    """  # noqa: S608
    if not empty:
        sql += f"""
    ON CONFLICT (commit_id, environment_id, project_key) DO UPDATE
    SET deployment_id = excluded.deployment_id, occurred_at = excluded.occurred_at, updated_at = excluded.updated_at
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

    Only the rows that name it can change (it was no other commit's first deployment), all in its
    own environment and project; each is recomputed from the deployments that remain.
    """
    rows = FirstDeployment.objects.filter(organization_id=deployment.organization_id, deployment_id=deployment.pk)
    commit_ids = list(rows.values_list("commit_id", flat=True))
    if not commit_ids:
        return
    rows.delete()
    for chunk in _chunks(commit_ids):
        params = {
            "org": deployment.organization_id,
            "environment": deployment.environment_id,
            "project_key": deployment.project_id or 0,
        }
        scope = (
            "d.organization_id = %(org)s AND d.environment_id = %(environment)s"
            " AND COALESCE(d.project_id, 0) = %(project_key)s"
        )
        release_filter = f"{scope} AND {_in('rc.commit_id', chunk, params)}"
        bare_filter = f"{scope} AND {_in('c.id', chunk, params)}"
        _upsert_earliest(release_filter, bare_filter, params)


def first_deployments_add_release_commits(*, organization_id: int, release_id: int, commit_ids: Sequence[int]) -> None:
    """Commits appended to a release: its successful deployments deployed them too."""
    for chunk in _chunks(commit_ids):
        params = {"org": organization_id, "release": release_id}
        release_filter = (
            f"d.organization_id = %(org)s AND d.release_id = %(release)s AND {_in('rc.commit_id', chunk, params)}"
        )
        _upsert_earliest(release_filter, NEVER, params)


def first_deployments_add_commits(*, organization_id: int, commit_ids: Sequence[int]) -> None:
    """Commits stored: a successful deployment without a release may have named one's sha before it existed."""
    environment_ids = _environment_ids(organization_id)
    for chunk in _chunks(commit_ids):
        params: dict = {}
        bare_filter = _bare_by_commit(organization_id, environment_ids, chunk, params)
        if bare_filter is not None:
            _upsert_earliest(NEVER, bare_filter, params)


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
    """Recompute every row of these commits (all environments and projects) from the deployments.

    For the rare changes that can move a first deployment anywhere: an admin deleting a release,
    a project, a deployment or a release's commit link.
    """
    environment_ids = _environment_ids(organization_id)
    for chunk in _chunks(commit_ids):
        FirstDeployment.objects.filter(organization_id=organization_id, commit_id__in=chunk).delete()
        params: dict = {}
        bare_filter = _bare_by_commit(organization_id, environment_ids, chunk, params)
        if bare_filter is not None:
            release_filter = f"d.organization_id = %(org)s AND {_in('rc.commit_id', chunk, params)}"
            _upsert_earliest(release_filter, bare_filter, params)
