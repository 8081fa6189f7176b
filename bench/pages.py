"""Pages benchmark: query counts at 10 and 100 rows, and server time with 100k releases vs 1k.

    .venv/bin/python bench/pages.py [--repeat 15] [--no-write]

Pages are rendered in this process through Django's test client with the production settings
on PostgreSQL (rt_bench, or BENCH_DATABASE_URL), signed in as a member of the organizations.

Data (created once, then reused while its marker release exists):
- ``bench-pages-1k``: 1,000 releases over the last 50 days, each with a project, 3 commits and a
  staging and a production deployment;
- ``bench-pages-100k``: the same 1,000 recent releases plus 99,000 older ones (before the
  metrics window), each with a project, a commit and a production deployment. The pages show
  the same recent rows in both, so any difference in time is the cost of the history;
- ``bench-pages-rows10`` / ``bench-pages-rows100``: 10 / 100 releases and deployments in the
  window, and a release ``rows`` with 10 / 100 commits and deployments, for the query counts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Report,
    Target,
    analyze,
    database_url,
    ensure_database,
    migrate,
    remaining_columns,
    script_command,
    setup_django,
)

SEED_VERSION = "seed-v1"
RECENT = 1_000
HISTORY = 99_000
USERNAME = "bench-pages"
PAGES = {
    "timeline": "/orgs/{org}/releases/",
    "release": "/orgs/{org}/releases/{version}/",
    "metrics": "/orgs/{org}/metrics/",
    # From the first recent release to the last: every recent release's commits.
    "compare": "/orgs/{org}/compare/?base=r000000&head={last}",
    "environments": "/orgs/{org}/environments/",
}
# How many recent releases (r000000, r000001, ...) each organization has.
RECENT_COUNT = {"1k": RECENT, "100k": RECENT, "rows10": 10, "rows100": 100}


def _orgs():
    from releasetracker.models import Organization
    from releasetracker.services import organization_create

    def get(slug: str):
        return Organization.objects.filter(slug=slug).first() or organization_create(slug=slug, name=slug)

    return get


def _seed_recent(org, *, now, count: int, commits_per_release: int, environments: list) -> None:
    """``count`` releases over the last 50 days with commits and deployments, through bulk inserts."""
    from deployments.models import Deployment, DeploymentStatusChange
    from releases.models import Commit, Project, Release, ReleaseCommit, ReleaseProject

    project, _ = Project.objects.get_or_create(organization=org, name="api")
    step = timedelta(days=50) / max(count, 1)
    releases = Release.objects.bulk_create(
        [
            Release(organization=org, version=f"r{i:06d}", created_at=now - step * (count - i), status="success")
            for i in range(count)
        ],
        batch_size=2000,
    )
    ReleaseProject.objects.bulk_create(
        [ReleaseProject(organization=org, release=r, project=project) for r in releases], batch_size=5000
    )
    commits = Commit.objects.bulk_create(
        [
            Commit(
                organization=org,
                sha=f"{org.pk:08x}{i:08x}{j:024x}",
                message=f"change {j} of r{i:06d}",
                author_name="Bench",
                timestamp=r.created_at - timedelta(hours=6 + j),
            )
            for i, r in enumerate(releases)
            for j in range(commits_per_release)
        ],
        batch_size=5000,
    )
    ReleaseCommit.objects.bulk_create(
        [
            ReleaseCommit(
                organization=org,
                release=releases[k // commits_per_release],
                commit=c,
                position=k % commits_per_release,
            )
            for k, c in enumerate(commits)
        ],
        batch_size=5000,
    )
    deployments = []
    for i, r in enumerate(releases):
        for n, env in enumerate(environments):
            at = r.created_at + timedelta(minutes=10 + 20 * n)
            status = "failure" if (env.is_production and i % 17 == 0) else "success"
            deployments.append(
                Deployment(
                    organization=org,
                    environment=env,
                    release=r,
                    project=project,
                    status=status,
                    started_at=at - timedelta(minutes=5),
                    finished_at=at,
                    occurred_at=at,
                    duration_seconds=300,
                    is_hotfix=env.is_production and i % 17 == 1,
                    created_at=at,
                )
            )
    deployments = Deployment.objects.bulk_create(deployments, batch_size=5000)
    DeploymentStatusChange.objects.bulk_create(
        [
            DeploymentStatusChange(organization=org, deployment=d, status=d.status, at=d.occurred_at)
            for d in deployments
        ],
        batch_size=5000,
    )


DEPLOYMENT_COLUMNS = (
    "created_at, updated_at, public_id, commit_sha, status, started_at, finished_at, occurred_at,"
    " duration_seconds, source, created_by, organization_id, project_id, release_id, environment_id"
)

HISTORY_SQL = """
WITH new_releases AS (
    INSERT INTO releases_release (created_at, updated_at, public_id, version, name, ref, url, date_released,
                                  status, source, created_by, create_payload, organization_id)
    SELECT %(start)s - g * interval '15 minutes', %(start)s - g * interval '15 minutes', gen_random_uuid(),
           'h' || lpad(g::text, 6, '0'), '', '', '', NULL, 'success', 'api', 'bench', '{}'::jsonb, %(org)s
    FROM generate_series(1, %(count)s) AS g
    RETURNING id, created_at
), new_projects AS (
    INSERT INTO releases_releaseproject (created_at, updated_at, organization_id, project_id, release_id)
    SELECT created_at, created_at, %(org)s, %(project)s, id FROM new_releases
), new_commits AS (
    INSERT INTO releases_commit (created_at, updated_at, public_id, sha, message, author_name, author_email,
                                 timestamp, pr_number, organization_id, repository_id)
    SELECT created_at, created_at, gen_random_uuid(), 'e' || lpad(to_hex(id), 39, '0'), 'history', 'Bench', '',
           created_at - interval '6 hours', NULL, %(org)s, NULL
    FROM new_releases
    RETURNING id, sha
), links AS (
    INSERT INTO releases_releasecommit (created_at, updated_at, position, commit_id, organization_id, release_id)
    SELECT r.created_at, r.created_at, 0, c.id, %(org)s, r.id
    FROM new_releases r JOIN new_commits c ON c.sha = 'e' || lpad(to_hex(r.id), 39, '0')
), new_deployments AS (
    INSERT INTO deployments_deployment ({deployment_columns}, {deployment_defaults})
    SELECT created_at + interval '30 minutes', created_at + interval '30 minutes', gen_random_uuid(), '',
           'success', created_at + interval '25 minutes', created_at + interval '30 minutes',
           created_at + interval '30 minutes', 300, 'api', 'bench', %(org)s, %(project)s, id, %(environment)s,
           {deployment_default_values}
    FROM new_releases
    RETURNING id, occurred_at
)
INSERT INTO deployments_deploymentstatuschange (created_at, updated_at, status, at, deployment_id, organization_id)
SELECT occurred_at, occurred_at, 'success', occurred_at, id, %(org)s FROM new_deployments
"""


def _seed_history(org, *, now, count: int) -> None:
    """``count`` releases before the recent ones (and before the metrics window), in one SQL statement."""
    from django.db import connection

    from deployments.models import Deployment, Environment
    from releases.models import Project

    project = Project.objects.get(organization=org, name="api")
    production = Environment.objects.get(organization=org, name="production")
    columns, values, defaults = remaining_columns(Deployment, DEPLOYMENT_COLUMNS, prefix="d_")
    sql = (
        HISTORY_SQL.replace("{deployment_columns}", DEPLOYMENT_COLUMNS)
        .replace("{deployment_defaults}", columns)
        .replace("{deployment_default_values}", values)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "start": now - timedelta(days=60),
                "count": count,
                "org": org.pk,
                "project": project.pk,
                "environment": production.pk,
                **defaults,
            },
        )


def _rows_org(slug: str, rows: int, *, now):
    """An organization whose pages show ``rows`` rows: releases, commits and deployments."""
    from deployments.models import Environment
    from releases.models import Release

    org = _orgs()(slug)
    envs = [
        Environment.objects.get_or_create(organization=org, name=name, defaults={"is_production": prod})[0]
        for name, prod in (("staging", False), ("production", True))
    ]
    _seed_recent(org, now=now, count=rows, commits_per_release=1, environments=envs[1:])
    rows_release = Release.objects.create(organization=org, version="rows", status="success", created_at=now)
    _seed_detail(org, rows_release, rows=rows, environments=envs, now=now)
    return org


def _seed_detail(org, release, *, rows: int, environments: list, now) -> None:
    from deployments.models import Deployment, DeploymentStatusChange
    from releases.models import Commit, ReleaseCommit

    commits = Commit.objects.bulk_create(
        [
            Commit(organization=org, sha=f"{org.pk:08x}ffffffff{j:024x}", message=f"detail {j}", author_name="Bench")
            for j in range(rows)
        ]
    )
    ReleaseCommit.objects.bulk_create(
        [ReleaseCommit(organization=org, release=release, commit=c, position=j) for j, c in enumerate(commits)]
    )
    deployments = Deployment.objects.bulk_create(
        [
            Deployment(
                organization=org,
                environment=environments[j % len(environments)],
                release=release,
                status="success",
                started_at=now - timedelta(minutes=rows - j, seconds=30),
                finished_at=now - timedelta(minutes=rows - j),
                occurred_at=now - timedelta(minutes=rows - j),
                created_at=now - timedelta(minutes=rows - j, seconds=30),
            )
            for j in range(rows)
        ]
    )
    DeploymentStatusChange.objects.bulk_create(
        [
            DeploymentStatusChange(organization=org, deployment=d, status=status, at=at)
            for d in deployments
            for status, at in (("in_progress", d.started_at), ("success", d.finished_at))
        ]
    )


def seed(report: Report) -> dict[str, object]:
    """Create the organizations once; a marker release records that a seed completed."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from deployments.models import Environment
    from deployments.outcomes import outcomes_fill
    from releases.models import Release
    from releasetracker.models import Membership
    from releasetracker.services import membership_set

    get = _orgs()
    slugs = {
        "1k": "bench-pages-1k",
        "100k": "bench-pages-100k",
        "rows10": "bench-pages-rows10",
        "rows100": "bench-pages-rows100",
    }
    marker = get("bench-pages-100k")
    if Release.objects.filter(organization=marker, version=SEED_VERSION).exists():
        report.add("Data: reused from an earlier run (marker release found).")
    else:
        from releasetracker.models import Organization

        started = time.perf_counter()
        Organization.objects.filter(slug__in=slugs.values()).delete()
        now = timezone.now()
        with transaction.atomic():
            for key in ("1k", "100k"):
                org = get(slugs[key])
                envs = [
                    Environment.objects.create(organization=org, name=name, is_production=prod)
                    for name, prod in (("staging", False), ("production", True))
                ]
                _seed_recent(org, now=now, count=RECENT, commits_per_release=3, environments=envs)
                if key == "100k":
                    _seed_history(org, now=now, count=HISTORY)
            _rows_org(slugs["rows10"], 10, now=now)
            _rows_org(slugs["rows100"], 100, now=now)
            marker_at = now - timedelta(days=3650)
            Release.objects.create(organization=get(slugs["100k"]), version=SEED_VERSION, created_at=marker_at)
            # What the deployment services keep on every write: each seeded deployment's own outcome.
            for slug in slugs.values():
                outcomes_fill(organization_id=get(slug).pk)
        # Fresh statistics and visibility map, as autovacuum would leave them on a real database.
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
            # Write the load's dirty pages out now, not in a checkpoint during the measurements.
            cursor.execute("CHECKPOINT")
        report.add(f"Data: created in {time.perf_counter() - started:.0f} s.")
    user = get_user_model().objects.filter(username=USERNAME).first()
    if user is None:
        user = get_user_model().objects.create_user(USERNAME, password=None)
    for slug in slugs.values():
        membership_set(organization=get(slug), user=user, role=Membership.Role.VIEWER)
    counts = {
        key: Release.objects.filter(organization__slug=slug).exclude(version=SEED_VERSION).count()
        for key, slug in slugs.items()
    }
    report.add("Releases per organization: " + ", ".join(f"{slugs[k]} {v:,}" for k, v in counts.items()) + ".")
    return {"user": user, "slugs": slugs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed renders per page and organization")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args(argv)
    shown = script_command("pages.py", argv if argv is not None else sys.argv[1:])

    url = database_url()
    ensure_database(url)
    migrate(url)
    setup_django(url)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import NoReverseMatch, reverse

    report = Report("pages", "Pages: query counts and time against the organization's size")
    missing = []
    for name in ("releases:timeline", "releases:detail", "metrics:dashboard", "compare:compare"):
        try:
            reverse(name, kwargs={"org_slug": "x", **({"key": "x"} if name == "releases:detail" else {})})
        except NoReverseMatch:
            missing.append(name)
    if missing:
        report.add(f"Pages missing from releasetracker/page_urls.py: {', '.join(missing)}.")
        for page in PAGES:
            report.target(Target(f"pages_{page}_queries_100_vs_10_rows", None, "==", 0, "", "page not built"))
        return report.finish(shown, write=not args.no_write)

    data = seed(report)
    analyze(url)  # autovacuum is off on this server: statistics as a normal server keeps them
    client = Client()
    client.force_login(data["user"])
    slugs = data["slugs"]

    def get(page: str, org: str, rows: int | None = None):
        path = PAGES[page].format(
            org=slugs[org],
            version="rows" if org.startswith("rows") else "r000990",
            last=f"r{RECENT_COUNT[org] - 1:06d}",
        )
        params = {"per_page": rows} if page == "timeline" and rows else {}
        response = client.get(path, params)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.content[:500]!r}")
        return response

    # Query counts ----------------------------------------------------------------------------
    report.add("")
    report.add("Query counts (CaptureQueriesContext around one signed-in GET; session and membership included):")
    report.add("")
    report.add("| page | 10 rows | 100 rows |")
    report.add("|---|---:|---:|")
    for page in PAGES:
        counts = {}
        for rows, org in ((10, "rows10"), (100, "rows100")):
            get(page, org, rows)  # warm: the first render of a process compiles templates
            with CaptureQueriesContext(connection) as queries:
                get(page, org, rows)
            counts[rows] = len(queries.captured_queries)
        shown_path = PAGES[page].format(org="<org>", version="rows", last="<last>")
        report.add(f"| {page} ({shown_path}) | {counts[10]} | {counts[100]} |")
        data[f"count-{page}"] = counts
    report.add("")
    report.add(
        "Rows: the timeline with per_page=10 / 100; the release page of a release with 10 / 100 commits and "
        "deployments (each with 2 status changes); the metrics page with 10 / 100 releases and their "
        "deployments in the window; the compare of the first and last of 10 / 100 releases (9 / 99 commits)."
    )

    # Time ------------------------------------------------------------------------------------
    report.add("")
    report.add(
        f"Server time (median of {args.repeat} renders in this process, the two organizations alternating; "
        "same recent rows on screen in both):"
    )
    report.add("")
    report.add("| page | 1k releases ms | 100k releases ms | ratio |")
    report.add("|---|---:|---:|---:|")
    ratios = {}
    for page in PAGES:
        samples: dict[str, list[float]] = {"1k": [], "100k": []}
        for org in ("1k", "100k"):
            get(page, org)
        for _ in range(args.repeat):
            for org in ("1k", "100k"):
                started = time.perf_counter()
                get(page, org)
                samples[org].append((time.perf_counter() - started) * 1000)
        small, large = statistics.median(samples["1k"]), statistics.median(samples["100k"])
        ratios[page] = large / small
        report.add(f"| {page} | {small:.1f} | {large:.1f} | {ratios[page]:.2f} |")
    report.add("")
    for page in PAGES:
        counts = data[f"count-{page}"]
        report.target(
            Target(f"pages_{page}_queries_at_100_rows", counts[100], "==", counts[10], "", "the count at 10 rows")
        )
    for page in PAGES:
        report.target(Target(f"pages_{page}_time_100k_vs_1k", round(ratios[page], 2), "<=", 1.5, "x"))
    return report.finish(shown, write=not args.no_write)


if __name__ == "__main__":
    sys.exit(main())
