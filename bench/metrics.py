"""Benchmark of the DORA metrics endpoint on PostgreSQL (issue 5, "Speed").

Seeds 100 organizations x 10,000 deployments (a year of history: 5,000 releases per
organization, each with 3 commits, deployed to staging and then production) with bulk SQL, and
reports for one organization's last 90 days:

- the endpoint's median latency over 100 calls (Django test client: middleware, token auth,
  validation, the metrics queries and JSON rendering), the calls of every measurement taking
  turns one by one, so a slow stretch of the shared machine falls on all of them alike,
- the raw SQL floor: the same counts and percentiles written by hand as one query,
- their ratio (target <= 3), and the endpoint's latency with 1,000,000 deployments in the
  database against 100,000 (target <= 1.3: other organizations' rows must not slow one down).

The two sizes live in two databases on the same server (DATABASE_URL's, holding the million,
and the same name with ``_small`` holding the first 10 organizations), so the measurements can
alternate call by call: load from elsewhere on a shared machine then hits both sizes alike.

Usage (both databases are wiped: the name must contain "bench"):

    createdb -h 127.0.0.1 -U postgres rt_metrics_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rt_metrics_bench .venv/bin/python bench/metrics.py

Prints one ``<name>: <value> (target <op> <bound>): PASS|FAIL`` line per target and exits 1
on a FAIL. ``--orgs`` and ``--per-org`` scale it down for a quick run. ``--incidents N`` adds N
incidents per organization (issue 22: ``--incidents 1000`` puts 100,000 next to the million
deployments); the floor then attributes them by hand too, and the run checks the failure rate,
recovery time and unattributed count against it. ``--large-org`` measures one very large
organization instead (issue 22: 4,000,000 deployments, about 1,000,000 of them in the 90-day
window; ``--per-org`` scales it down, ``--calls`` sets the timed calls): one database only, the
endpoint against the floor and against the 2-second goal. ``--reuse`` measures the databases a
previous run with the same options seeded (seeding 4,000,000 deployments takes about ten
minutes). Not run in CI.
"""

import argparse
import logging
import os
import statistics
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "releasetracker.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-0123")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")

import django  # noqa: E402

# The seeded year, fixed so every run measures the same data: [START, END).
START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = (END - timedelta(days=90), END)
CALLS = 100  # timed calls per measurement, after 2 warm-up calls
COMMITS_PER_RELEASE = 3
# The incident columns the seed sets (the rest: each field's default).
INCIDENT_COLUMNS = (
    "id, created_at, updated_at, public_id, title, severity, status, started_at, resolved_at, environment_id,"
    " project_id, deployment_id, commit_sha, source, created_by, organization_id"
)
# The deployment columns the seed sets; every other column gets its field's default (remaining_columns).
DEPLOYMENT_COLUMNS = (
    "id, created_at, updated_at, public_id, commit_sha, status, started_at, finished_at, occurred_at,"
    " duration_seconds, branch, is_fix, is_hotfix, is_rollback, tags, commits_count, source, created_by,"
    " organization_id, project_id, release_id, environment_id"
)


def _check_database() -> None:
    url = os.environ.get("DATABASE_URL", "")
    parsed = urlparse(url)
    if not parsed.scheme.startswith("postgres"):
        sys.exit("bench/metrics.py needs DATABASE_URL=postgres://.../rt_metrics_bench (PostgreSQL)")
    if "bench" not in parsed.path:
        sys.exit(f"refusing to wipe {parsed.path.lstrip('/')!r}: the benchmark database's name must contain 'bench'")


def _seed_organizations(first: int, last: int) -> None:
    """Organizations, projects and environments through the ORM (few rows; picks up every column)."""
    from deployments.models import Environment
    from releases.models import Project
    from releasetracker.models import Organization

    orgs = Organization.objects.bulk_create(
        [Organization(slug=f"bench-{n:03d}", name=f"Bench {n}") for n in range(first, last + 1)]
    )
    projects = Project.objects.bulk_create([Project(organization=org, name="api") for org in orgs])
    production = Environment.objects.bulk_create(
        [Environment(organization=org, name="production", is_production=True) for org in orgs]
    )
    staging = Environment.objects.bulk_create(
        [Environment(organization=org, name="staging", is_production=False) for org in orgs]
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO bench_orgs (n, org_id, project_id, production_id, staging_id) VALUES (%s, %s, %s, %s, %s)",
            [
                (first + i, org.pk, project.pk, prod.pk, stage.pk)
                for i, (org, project, prod, stage) in enumerate(zip(orgs, projects, production, staging, strict=True))
            ],
        )


def _seed_history(first: int, last: int, releases: int) -> None:
    """Releases, commits and deployments of organizations ``first..last`` with set-based SQL.

    Ids are computed (so the inserts need no lookups) and rows are inserted in time order across
    organizations, interleaved as a shared production database would hold them. The outcome of
    each production deployment comes from a fixed hash of (organization, release): about 4 %
    fail, 1 % are cancelled, 3 % are hotfixes, 5 % fixes, 1 % rollbacks, 1 % tagged is_failure.
    """
    from django.db import connection

    from bench.common import remaining_columns
    from deployments.models import Deployment

    spacing = (END - START).total_seconds() / releases
    default_columns, default_values, defaults = remaining_columns(Deployment, DEPLOYMENT_COLUMNS, prefix="d_")
    params = {"first": first, "last": last, "releases": releases, "start": START, "spacing": spacing, **defaults}
    release_id = f"((o.n - 1)::bigint * {releases} + r)"
    # In bigint: r * 104729 overflows an integer past about 20,000 releases per organization.
    hash_ = "mod(o.n::bigint * 7919 + r::bigint * 104729, 100)"
    release_time = "(%(start)s::timestamptz + make_interval(secs => r * %(spacing)s))"
    statements = [
        f"""
        INSERT INTO releases_release (id, created_at, updated_at, public_id, version, name, ref, url,
            date_released, status, source, created_by, create_payload, organization_id)
        SELECT {release_id} + 1, {release_time}, {release_time}, gen_random_uuid(), '1.' || r, '', '', '',
            {release_time}, 'success', 'api', 'bench', '{{}}'::jsonb, o.org_id
        FROM bench_orgs o CROSS JOIN generate_series(0, %(releases)s - 1) r
        WHERE o.n BETWEEN %(first)s AND %(last)s
        ORDER BY r, o.n
        """,  # noqa: S608
        # Commits: authored 1 to 72 hours before their release; one in 50 has no timestamp (the
        # metrics then use when the tracker first saw it).
        f"""
        INSERT INTO releases_commit (id, created_at, updated_at, public_id, sha, message, author_name,
            author_email, timestamp, pr_number, organization_id, repository_id)
        SELECT {release_id} * {COMMITS_PER_RELEASE} + j + 1,
            {release_time} - interval '30 minutes', {release_time} - interval '30 minutes', gen_random_uuid(),
            md5(o.n || '-' || r || '-' || j), 'change ' || j, 'Bench', 'bench@example.com',
            CASE WHEN mod(r + j, 50) = 0 THEN NULL
                 ELSE {release_time} - make_interval(hours => 1 + mod(o.n * 31 + r * 17 + j * 7, 72)) END,
            NULL, o.org_id, NULL
        FROM bench_orgs o CROSS JOIN generate_series(0, %(releases)s - 1) r
            CROSS JOIN generate_series(0, {COMMITS_PER_RELEASE - 1}) j
        WHERE o.n BETWEEN %(first)s AND %(last)s
        ORDER BY r, o.n, j
        """,  # noqa: S608
        f"""
        INSERT INTO releases_releasecommit (id, created_at, updated_at, position, commit_id, organization_id,
            release_id)
        SELECT {release_id} * {COMMITS_PER_RELEASE} + j + 1, {release_time}, {release_time}, j,
            {release_id} * {COMMITS_PER_RELEASE} + j + 1, o.org_id, {release_id} + 1
        FROM bench_orgs o CROSS JOIN generate_series(0, %(releases)s - 1) r
            CROSS JOIN generate_series(0, {COMMITS_PER_RELEASE - 1}) j
        WHERE o.n BETWEEN %(first)s AND %(last)s
        ORDER BY r, o.n, j
        """,  # noqa: S608
        # Two deployments per release: staging 10 minutes after the release, production an hour
        # after (plus up to 29 minutes), with the outcome drawn from the hash.
        f"""
        INSERT INTO deployments_deployment ({DEPLOYMENT_COLUMNS}, {default_columns})
        SELECT {release_id} * 2 + e + 1, t.at, t.at, gen_random_uuid(), md5(o.n || '-' || r || '-0'),
            CASE WHEN e = 0 THEN 'success' WHEN {hash_} < 4 THEN 'failure' WHEN {hash_} = 4 THEN 'canceled'
                 ELSE 'success' END,
            t.at - interval '5 minutes', t.at, t.at, 300, 'main',
            e = 1 AND {hash_} BETWEEN 8 AND 12, e = 1 AND {hash_} BETWEEN 5 AND 7, e = 1 AND {hash_} = 13,
            CASE WHEN e = 1 AND {hash_} = 14 THEN '["is_failure"]'::jsonb ELSE '[]'::jsonb END,
            {COMMITS_PER_RELEASE}, 'api', 'bench', o.org_id, o.project_id,
            {release_id} + 1, CASE WHEN e = 0 THEN o.staging_id ELSE o.production_id END, {default_values}
        FROM bench_orgs o CROSS JOIN generate_series(0, %(releases)s - 1) r CROSS JOIN generate_series(0, 1) e
            CROSS JOIN LATERAL (
                SELECT {release_time} + CASE WHEN e = 0 THEN interval '10 minutes'
                    ELSE interval '1 hour' + make_interval(mins => mod({hash_}, 30)::int) END AS at
            ) t
        WHERE o.n BETWEEN %(first)s AND %(last)s
        ORDER BY r, o.n, e
        """,  # noqa: S608
    ]
    tables = ["releases_release", "releases_commit", "releases_releasecommit", "deployments_deployment"]
    with connection.cursor() as cursor, _bulk_load(cursor, tables):
        for sql in statements:
            cursor.execute(sql, params)
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # noqa: S608
            # What autovacuum would have done on a live database: planner statistics, hint bits and
            # the visibility map, so the first measurement does not pay for the bulk load.
            cursor.execute(f"VACUUM ANALYZE {table}")
    _seed_first_deployments()
    _seed_outcomes()
    with connection.cursor() as cursor:
        # Write the load's dirty pages out now, not in a checkpoint during the measurements.
        cursor.execute("CHECKPOINT")


def _seed_first_deployments() -> None:
    """Each commit's first successful deployment per environment and project, which the deployment
    services keep on every write, computed once from the seeded deployments by the same code."""
    from django.db import connection

    from deployments.first_deployments import first_deployments_fill

    table = "deployments_firstdeployment"
    with connection.cursor() as cursor, _bulk_load(cursor, [table]):
        first_deployments_fill()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # noqa: S608
        cursor.execute(f"VACUUM ANALYZE {table}")


def _seed_outcomes() -> None:
    """Each deployment's own outcome (failed change by itself, next clean success), which the
    deployment services keep on every write, computed once for the seeded rows by the same code."""
    from django.db import connection

    from deployments.outcomes import outcomes_fill

    outcomes_fill()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE deployments_deployment")


@contextmanager
def _bulk_load(cursor, tables: list[str]) -> Iterator[None]:
    """Drop the tables' secondary indexes, unique and foreign-key constraints for a bulk insert; put them back.

    Building an index once over a million rows is several times faster than maintaining it row by
    row (random UUIDs especially); re-adding the constraints checks every row once.
    """
    cursor.execute("SET maintenance_work_mem = '256MB'")
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('u', 'f') ORDER BY contype DESC, conname",
        [tables],
    )
    constraints = cursor.fetchall()  # unique ('u') before foreign keys ('f') when re-adding
    cursor.execute(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
        " WHERE indrelid = ANY(%s::regclass[]) AND NOT indisprimary"
        " AND indexrelid NOT IN (SELECT conindid FROM pg_constraint WHERE conindid <> 0)",
        [tables],
    )
    indexes = cursor.fetchall()
    for table, name, _, _ in reversed(constraints):  # foreign keys first: they may use a unique index
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    try:
        yield
    finally:
        for _, definition in indexes:
            cursor.execute(definition)
        for table, name, _, definition in constraints:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def _seed_incidents(first: int, last: int, releases: int, incidents: int) -> None:
    """``incidents`` incidents per organization ``first..last``, spread over the year, 3 hours after
    a release (its production deployment is 1 to 1.5 hours after it). From a fixed hash: 30 %
    name the release's production deployment, 30 % its first commit's sha, the rest nothing
    (attributed by environment); 5 % are still open, the others last 30 minutes to 5.5 hours."""
    from django.db import connection

    from bench.common import remaining_columns
    from incidents.models import Incident

    default_columns, default_values, defaults = remaining_columns(Incident, INCIDENT_COLUMNS, prefix="i_")
    spacing = (END - START).total_seconds() / releases
    params = {"first": first, "last": last, "incidents": incidents, "start": START, "spacing": spacing, **defaults}
    release = f"((k::bigint * {releases}) / {incidents})"
    hash_ = "mod(o.n::bigint * 7919 + k::bigint * 15485863, 100)"
    started = f"(%(start)s::timestamptz + make_interval(secs => {release} * %(spacing)s) + interval '3 hours')"
    sql = f"""
        INSERT INTO incidents_incident ({INCIDENT_COLUMNS}, {default_columns})
        SELECT (o.n - 1)::bigint * %(incidents)s + k + 1, {started}, {started}, gen_random_uuid(),
            'Incident ' || k, 'SEV2', CASE WHEN mod({hash_}, 20) = 0 THEN 'open' ELSE 'resolved' END, {started},
            CASE WHEN mod({hash_}, 20) = 0 THEN NULL
                 ELSE {started} + make_interval(mins => 30 + mod({hash_} * 7, 300)::int) END,
            o.production_id, NULL,
            CASE WHEN {hash_} < 30 THEN ((o.n - 1)::bigint * {releases} + {release}) * 2 + 2 END,
            CASE WHEN {hash_} BETWEEN 30 AND 59 THEN md5(o.n || '-' || {release} || '-0') ELSE '' END,
            'api', 'bench', o.org_id, {default_values}
        FROM bench_orgs o CROSS JOIN generate_series(0, %(incidents)s - 1) k
        WHERE o.n BETWEEN %(first)s AND %(last)s
        ORDER BY k, o.n
    """  # noqa: S608
    with connection.cursor() as cursor, _bulk_load(cursor, ["incidents_incident"]):
        cursor.execute(sql, params)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('incidents_incident', 'id'),"
            " (SELECT max(id) FROM incidents_incident))"
        )
        cursor.execute("VACUUM ANALYZE incidents_incident")
        cursor.execute("CHECKPOINT")


def _reset() -> None:
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE releasetracker_organization RESTART IDENTITY CASCADE")
        cursor.execute("DROP TABLE IF EXISTS bench_orgs")
        cursor.execute(
            "CREATE TABLE bench_orgs (n int PRIMARY KEY, org_id bigint, project_id bigint,"
            " production_id bigint, staging_id bigint)"
        )


# The floor: the same numbers, hand-written for PostgreSQL in one statement -------------------

FLOOR_SQL = """
WITH prod AS (
    SELECT id FROM deployments_environment WHERE organization_id = %(org)s AND is_production
),
-- Each incident's deployment: the one it names; else the latest successful production deployment
-- that shipped its commit; else the latest successful one to its environment (and project); the
-- last two within 7 days (the default window: the seed sets no incident settings).
inc AS (
    SELECT i.environment_id, i.started_at, i.resolved_at, COALESCE(i.deployment_id, bc.id, be.id) AS deployment_id
    FROM incidents_incident i
    LEFT JOIN LATERAL (
        SELECT x.id, x.occurred_at FROM (
            SELECT e.id, e.occurred_at
            FROM releases_commit c JOIN releases_releasecommit rc ON rc.commit_id = c.id
                JOIN deployments_deployment e ON e.release_id = rc.release_id
            WHERE i.commit_sha <> '' AND c.organization_id = %(org)s
              AND c.sha >= i.commit_sha AND c.sha < i.commit_sha || 'g' AND starts_with(c.sha, i.commit_sha)
              AND e.environment_id IN (SELECT id FROM prod) AND e.status = 'success' AND e.occurred_at < i.started_at
            UNION ALL
            SELECT e.id, e.occurred_at FROM deployments_deployment e
            WHERE e.organization_id = %(org)s AND e.environment_id IN (SELECT id FROM prod) AND e.release_id IS NULL
              AND i.commit_sha <> '' AND e.commit_sha >= i.commit_sha AND e.commit_sha < i.commit_sha || 'g'
              AND starts_with(e.commit_sha, i.commit_sha) AND e.status = 'success' AND e.occurred_at < i.started_at
        ) x ORDER BY x.occurred_at DESC, x.id DESC LIMIT 1
    ) bc ON bc.occurred_at >= i.started_at - interval '7 days'
    LEFT JOIN LATERAL (
        SELECT e.id, e.occurred_at FROM deployments_deployment e
        WHERE e.organization_id = %(org)s AND e.environment_id = i.environment_id
          AND (i.project_id IS NULL OR e.project_id = i.project_id) AND e.status = 'success'
          AND e.occurred_at < i.started_at
        ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1
    ) be ON be.occurred_at >= i.started_at - interval '7 days'
    WHERE i.organization_id = %(org)s AND (i.deployment_id IS NOT NULL OR i.started_at >= %(since)s)
),
io AS (
    SELECT deployment_id, min(started_at) AS i_start, max(resolved_at) AS i_end,
           count(*) FILTER (WHERE resolved_at IS NULL) AS i_open
    FROM inc WHERE deployment_id IS NOT NULL GROUP BY deployment_id
),
d AS (
    SELECT d.id, d.occurred_at, d.status, d.environment_id, d.project_id, d.is_fix, d.is_hotfix, d.is_rollback,
           d.tags, d.release_id, d.commit_sha,
           count(*) FILTER (WHERE d.status = 'success') OVER (
               PARTITION BY d.environment_id, d.project_id ORDER BY d.occurred_at, d.id) AS n_success
    FROM deployments_deployment d
    WHERE d.organization_id = %(org)s AND d.environment_id IN (SELECT id FROM prod) AND d.occurred_at >= %(since)s
),
remediated AS (
    SELECT DISTINCT environment_id, project_id, n_success - (status = 'success')::int AS n
    FROM d WHERE is_hotfix OR is_rollback
),
f AS (
    SELECT d.*, (d.status = 'failure'
                 OR (d.status = 'success'
                     AND (d.tags @> '["is_failure"]' OR x.n IS NOT NULL OR io.deployment_id IS NOT NULL))) AS failed,
           io.deployment_id IS NOT NULL AS has_incidents, io.i_start, io.i_end, io.i_open
    FROM d LEFT JOIN remediated x
      ON d.status = 'success' AND x.environment_id = d.environment_id
     AND x.project_id IS NOT DISTINCT FROM d.project_id AND x.n = d.n_success
    LEFT JOIN io ON io.deployment_id = d.id
),
r AS (
    SELECT f.*, min(f.occurred_at) FILTER (WHERE f.status = 'success' AND NOT f.failed) OVER (
               PARTITION BY f.environment_id, f.project_id ORDER BY f.occurred_at DESC, f.id DESC
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS recovered_at
    FROM f
),
w AS (
    SELECT r.*,
           CASE WHEN NOT failed THEN NULL
                WHEN has_incidents THEN CASE WHEN i_open = 0 THEN extract(epoch FROM i_end - i_start)::float8 END
                ELSE extract(epoch FROM recovered_at - occurred_at)::float8 END AS rec,
           failed AND CASE WHEN has_incidents THEN i_open > 0 ELSE recovered_at IS NULL END AS unrec
    FROM r WHERE occurred_at < %(until)s
),
deployed AS (
    SELECT rc.commit_id, w.occurred_at FROM w JOIN releases_releasecommit rc ON rc.release_id = w.release_id
    WHERE w.status = 'success'
    UNION ALL
    SELECT c.id, w.occurred_at FROM w JOIN releases_commit c ON c.organization_id = %(org)s AND c.sha = w.commit_sha
    WHERE w.status = 'success' AND w.release_id IS NULL
),
lead AS (
    SELECT extract(epoch FROM min(x.occurred_at) - coalesce(c.timestamp, c.created_at))::float8 AS s
    FROM deployed x JOIN releases_commit c ON c.id = x.commit_id
    WHERE NOT EXISTS (
        SELECT 1 FROM releases_releasecommit rc2 JOIN deployments_deployment e ON e.release_id = rc2.release_id
        WHERE rc2.commit_id = x.commit_id AND e.organization_id = %(org)s AND e.environment_id IN (SELECT id FROM prod)
          AND e.status = 'success' AND e.occurred_at < %(since)s)
    AND NOT EXISTS (
        SELECT 1 FROM deployments_deployment e WHERE e.organization_id = %(org)s
          AND e.environment_id IN (SELECT id FROM prod) AND e.release_id IS NULL AND e.commit_sha = c.sha
          AND e.status = 'success' AND e.occurred_at < %(since)s)
    GROUP BY c.id
)
SELECT
    (SELECT count(*) FROM w WHERE status = 'success') AS deployments,
    (SELECT count(*) FROM w WHERE status IN ('success', 'failure')) AS finished,
    (SELECT count(*) FROM w WHERE failed) AS failed,
    (SELECT count(*) FROM w WHERE status = 'success' AND (is_fix OR is_hotfix)) AS rework,
    (SELECT count(*) FROM w WHERE rec IS NOT NULL) AS recovered,
    (SELECT count(*) FROM w WHERE unrec) AS unrecovered,
    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY rec) FROM w WHERE rec IS NOT NULL) AS recovery_median,
    (SELECT count(*) FROM inc WHERE deployment_id IS NULL AND started_at < %(until)s
       AND environment_id IN (SELECT id FROM prod)) AS unattributed,
    (SELECT count(*) FROM lead WHERE s > 0) AS commits,
    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s) FROM lead WHERE s > 0) AS lead_median,
    (SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY s) FROM lead WHERE s > 0) AS lead_p90
"""


def _use_database(name: str) -> None:
    """Point Django's default connection at another database of the same server (reconnects on next use)."""
    from django.db import connections

    connection = connections["default"]
    connection.close()
    connection.settings_dict["NAME"] = name


def _floor_call(org_id: int):
    from django.db import connection

    params = {"org": org_id, "since": WINDOW[0], "until": WINDOW[1]}

    def call() -> dict:
        with connection.cursor() as cursor:
            cursor.execute(FLOOR_SQL, params)
            names = [c[0] for c in cursor.description]
            return dict(zip(names, cursor.fetchone(), strict=True))

    return call


def _endpoint_call(clear: str):
    from django.test import Client

    client = Client()
    query = {"since": WINDOW[0].isoformat(), "until": WINDOW[1].isoformat()}

    def call() -> dict:
        response = client.get("/api/v1/metrics/dora/", query, HTTP_AUTHORIZATION=f"Bearer {clear}")
        if response.status_code != 200:
            sys.exit(f"endpoint answered {response.status_code}: {response.content[:500]!r}")
        return response.json()

    return call


def _measure(plan: dict[str, tuple[str, object]], calls: int = CALLS) -> dict[str, tuple[float, object]]:
    """Median latency of every measurement of ``plan`` ({key: (database, call)}), interleaved call by call.

    Each database keeps its own open connection, swapped in as Django's default before each
    call, so the measurements take turns one call at a time (``calls`` each, after two warm-up
    calls): a slower stretch of this shared machine, which can last seconds, falls
    on every measurement alike instead of on whichever block of calls was running.
    """
    from django.db import DEFAULT_DB_ALIAS, connections

    base = connections[DEFAULT_DB_ALIAS]
    base.close()
    wrappers = {}
    for database, _ in plan.values():
        if database not in wrappers:
            wrappers[database] = type(base)({**base.settings_dict, "NAME": database}, alias=DEFAULT_DB_ALIAS)
    timings: dict[str, list[float]] = {key: [] for key in plan}
    results: dict[str, object] = {}
    try:
        for key, (database, call) in plan.items():
            connections[DEFAULT_DB_ALIAS] = wrappers[database]
            call()
            results[key] = call()
        keys = list(plan)
        for turn in range(calls):
            for key in keys[turn % len(keys) :] + keys[: turn % len(keys)]:
                database, call = plan[key]
                connections[DEFAULT_DB_ALIAS] = wrappers[database]
                started = time.perf_counter()
                results[key] = call()
                timings[key].append(time.perf_counter() - started)
    finally:
        for wrapper in wrappers.values():
            wrapper.close()
        connections[DEFAULT_DB_ALIAS] = base
    return {key: (statistics.median(values), results[key]) for key, values in timings.items()}


def _same_numbers(body: dict, floor: dict) -> list[str]:
    pairs = [
        ("deployment_frequency.count", body["deployment_frequency"]["count"], floor["deployments"]),
        ("change_failure_rate.total", body["change_failure_rate"]["total"], floor["finished"]),
        ("change_failure_rate.failed", body["change_failure_rate"]["failed"], floor["failed"]),
        ("rework_rate.rework", body["rework_rate"]["rework"], floor["rework"]),
        ("recovery_time.recovered", body["recovery_time"]["recovered"], floor["recovered"]),
        ("recovery_time.unrecovered", body["recovery_time"]["unrecovered"], floor["unrecovered"]),
        ("recovery_time.median_seconds", body["recovery_time"]["median_seconds"], floor["recovery_median"]),
        ("lead_time.commits", body["lead_time"]["commits"], floor["commits"]),
        ("lead_time.median_seconds", body["lead_time"]["median_seconds"], floor["lead_median"]),
        ("lead_time.p90_seconds", body["lead_time"]["p90_seconds"], floor["lead_p90"]),
        ("incidents.unattributed", body["incidents"]["unattributed"], floor["unattributed"]),
    ]
    return [
        f"{name}: endpoint {ours} vs floor {theirs}"
        for name, ours, theirs in pairs
        if not (ours == theirs or (ours is not None and theirs is not None and abs(ours - theirs) < 0.001))
    ]


def _target(name: str, value: float, op: str, bound: float, unit: str = "", places: int = 2) -> tuple[bool, str]:
    ok = value <= bound if op == "<=" else value >= bound
    line = f"{name}: {value:.{places}f}{unit} (target {op} {bound:g}{unit}): {'PASS' if ok else 'FAIL'}"
    print(line, flush=True)
    return ok, line


def _write_report(*, command: str, figures: list[tuple[str, str]], targets: list[str], seconds: float) -> None:
    """The "Metrics" section of docs/performance.md (between its markers; other sections are kept)."""
    from bench.common import environment_lines, write_section

    lines = [
        "## Metrics: the DORA endpoint at 1,000,000 deployments",
        "",
        f"Command: `{command}`",
        "",
        *environment_lines(),
        "",
        "Data: 100 organizations x 10,000 deployments over 2025 (per organization 5,000 releases of 3 commits,"
        " each deployed to staging then production; about 4 % of production deployments fail, 1 % are"
        " cancelled, 3 % are hotfixes, 5 % fixes, 1 % rollbacks, 1 % tagged is_failure), seeded with"
        " `INSERT ... SELECT generate_series` in time order across organizations, then `VACUUM ANALYZE`."
        f" Measured: organization bench-001, window {WINDOW[0]:%Y-%m-%d} to {WINDOW[1]:%Y-%m-%d} (90 days).",
        "",
        "| figure | value |",
        "|---|---:|",
        *[f"| {name} | {value} |" for name, value in figures],
        "",
        f"Latency: the median of {CALLS} calls after 2 warm-up calls; the three measurements take turns"
        " call by call, each on its own open connection, the 100,000-deployment one against a second database"
        " (`<name>_small`, the first 10 organizations of the same data) on the same server, so load from"
        " elsewhere on the shared machine hits them alike. The endpoint is called through Django's test"
        " client (middleware, token authentication, parameter checks, the three metric queries, JSON"
        " rendering); the floor is one hand-written PostgreSQL"
        " query (`FLOOR_SQL` in bench/metrics.py) computing the same counts and percentiles, whose answers the"
        " run checks against the endpoint's (the floor recomputes every commit's first deployment and every"
        " deployment's outcome from the deployments; the endpoint reads what the deployment services keep:"
        " the `FirstDeployment` rows and each deployment's own outcome, seeded here by `first_deployments_fill`"
        " and `outcomes_fill`, so the comparison also checks those).",
        "",
        "Targets:",
        "",
        "```",
        *targets,
        "```",
        "",
        f"Total run time: {seconds:.0f} s.",
    ]
    write_section("metrics", "\n".join(lines))


GOAL_SECONDS = 2.0  # issue 22: one call for the very large organization


def _print_window(body: dict) -> None:
    """What the measured organization's window holds, from the endpoint's answer."""
    print(
        f"window {WINDOW[0]:%Y-%m-%d}..{WINDOW[1]:%Y-%m-%d} of bench-001: "
        f"{body['deployment_frequency']['count']:,} deployments, {body['lead_time']['commits']:,} commits, "
        f"{body['change_failure_rate']['failed']:,}/{body['change_failure_rate']['total']:,} failed changes, "
        f"{body['incidents']['unattributed']:,} unattributed incidents",
        flush=True,
    )


def _report_large(args, measured: dict, seconds: float) -> int:
    """One very large organization: the endpoint's latency against the goal and the floor, numbers exact."""
    latency, body = measured["full"]
    floor_latency, floor_row = measured["floor"]
    total = args.per_org
    print(f"endpoint median at {total:,} deployments in one organization: {latency * 1000:.1f} ms", flush=True)
    print(f"raw SQL floor median: {floor_latency * 1000:.1f} ms", flush=True)
    _print_window(body)
    mismatches = _same_numbers(body, floor_row)
    for line in mismatches:
        print(f"mismatch: {line}", flush=True)
    results = [
        _target("numbers_differing_from_floor", len(mismatches), "<=", 0, places=0),
        _target("large_org_endpoint_seconds", latency, "<=", GOAL_SECONDS, " s"),
    ]
    print(f"total time {seconds:.0f} s; docs/performance.md is left as it is", flush=True)
    return 0 if all(ok for ok, _ in results) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=100, help="organizations in the full run (default 100)")
    parser.add_argument("--small-orgs", type=int, default=10, help="organizations in the first run (default 10)")
    parser.add_argument("--per-org", type=int, default=None, help="deployments per organization (default 10,000)")
    parser.add_argument(
        "--large-org",
        action="store_true",
        help="one very large organization (issue 22): --orgs 1 --small-orgs 1, --per-org default 4,000,000"
        " (about 1,000,000 deployments in the 90-day window), --calls default 5; not run in CI",
    )
    parser.add_argument("--calls", type=int, default=None, help=f"timed calls per measurement (default {CALLS})")
    parser.add_argument(
        "--reuse", action="store_true", help="measure what a previous run with the same options seeded; seed nothing"
    )
    parser.add_argument(
        "--incidents",
        type=int,
        default=0,
        help="incidents per organization (default 0; 1,000 adds 100,000 to the full run's million deployments)",
    )
    args = parser.parse_args()
    if args.large_org:
        args.orgs, args.small_orgs = 1, 1
        args.per_org = args.per_org or 4_000_000
        args.calls = args.calls or 5
    args.per_org = args.per_org or 10_000
    args.calls = args.calls or CALLS
    _check_database()
    django.setup()
    # One access-log line per call would drown the report; no static files are served here.
    logging.getLogger("releasetracker.access").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="No directory at")
    from django.db import connection

    from bench.common import ensure_database
    from releasetracker.models import Organization
    from releasetracker.services import token_issue

    releases = args.per_org // 2
    small_total = args.small_orgs * releases * 2
    full_total = args.orgs * releases * 2
    began = time.perf_counter()

    # Two databases on the same server, so the two sizes can be measured in alternation.
    full_db = connection.settings_dict["NAME"]
    small_db = f"{full_db}_small"
    if not args.large_org:
        ensure_database(f"{os.environ['DATABASE_URL'].split('?')[0].rsplit('/', 1)[0]}/{small_db}")
    tokens = {}
    # One very large organization: one database, measured against the floor and the goal.
    databases = ((full_db, args.orgs),) if args.large_org else ((small_db, args.small_orgs), (full_db, args.orgs))
    for database, count in databases:
        started = time.perf_counter()
        _use_database(database)
        if not args.reuse:
            _reset()
            _seed_organizations(1, count)
            _seed_history(1, count, releases)
            if args.incidents:
                _seed_incidents(1, count, releases, args.incidents)
        org = Organization.objects.get(slug="bench-001")
        tokens[database] = (org.pk, token_issue(organization=org, name="bench", scopes=["read"]).clear)
        total = count * releases * 2
        verb = "reusing" if args.reuse else "seeded"
        print(f"{verb} {total:,} deployments in {database} ({time.perf_counter() - started:.0f} s)", flush=True)

    plan = {
        "full": (full_db, _endpoint_call(tokens[full_db][1])),
        "floor": (full_db, _floor_call(tokens[full_db][0])),
    }
    if args.large_org:
        measured = _measure(plan, calls=args.calls)
        return _report_large(args, measured, time.perf_counter() - began)
    measured = _measure({"small": (small_db, _endpoint_call(tokens[small_db][1])), **plan}, calls=args.calls)
    small_latency, small_body = measured["small"]
    latency, body = measured["full"]
    floor_latency, floor_row = measured["floor"]
    print(f"endpoint median at {small_total:,} deployments: {small_latency * 1000:.1f} ms", flush=True)
    print(f"endpoint median at {full_total:,} deployments: {latency * 1000:.1f} ms", flush=True)
    print(f"raw SQL floor median at {full_total:,} deployments: {floor_latency * 1000:.1f} ms", flush=True)
    _print_window(body)

    mismatches = _same_numbers(body, floor_row)
    if small_body != body:
        mismatches.append("the organization's numbers differ between the two database sizes")
    for line in mismatches:
        print(f"mismatch: {line}", flush=True)
    results = [
        _target("numbers_differing_from_floor", len(mismatches), "<=", 0, places=0),
        _target("endpoint_vs_floor_ratio", latency / floor_latency, "<=", 3, "x"),
        _target(f"latency_{full_total}_vs_{small_total}_ratio", latency / small_latency, "<=", 1.3, "x"),
    ]
    seconds = time.perf_counter() - began
    print(f"total time {seconds:.0f} s", flush=True)
    if (args.orgs, args.small_orgs, args.per_org, args.calls, args.incidents) == (100, 10, 10_000, CALLS, 0):
        _write_report(
            command=f"DATABASE_URL={os.environ['DATABASE_URL']} .venv/bin/python bench/metrics.py",
            figures=[
                (
                    f"endpoint median latency, {small_total:,} deployments in the database",
                    f"{small_latency * 1000:.1f} ms",
                ),
                (f"endpoint median latency, {full_total:,} deployments in the database", f"{latency * 1000:.1f} ms"),
                (f"raw SQL floor median latency, {full_total:,} deployments", f"{floor_latency * 1000:.1f} ms"),
                ("endpoint / floor", f"{latency / floor_latency:.2f}x"),
                (f"endpoint at {full_total:,} / at {small_total:,}", f"{latency / small_latency:.2f}x"),
                ("successful deployments in the window", f"{body['deployment_frequency']['count']:,}"),
                ("commits counted for lead time", f"{body['lead_time']['commits']:,}"),
                (
                    "failed changes / finished deployments",
                    f"{body['change_failure_rate']['failed']} / {body['change_failure_rate']['total']}",
                ),
            ],
            targets=[line for _, line in results],
            seconds=seconds,
        )
    else:
        print("scaled-down run: docs/performance.md is left as it is", flush=True)
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
