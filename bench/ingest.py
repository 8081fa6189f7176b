"""Ingest benchmark: the product under gunicorn against a bare reference app, and bulk release creation.

    .venv/bin/python bench/ingest.py [--seconds 12] [--connections 16] [--no-write]

Both apps run at the same time under the same gunicorn config (gunicorn.conf.py) on the same
PostgreSQL database (rt_bench, or BENCH_DATABASE_URL); wrk drives each scenario in the order
bare, product, product, bare, ... in runs of about two seconds, so that drift in the shared
machine's speed falls on both equally.
The bulk part creates releases of 100 and 1,000 commits through the API in this process and
counts their queries with CaptureQueriesContext.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    LoadResult,
    Report,
    Target,
    analyze,
    database_url,
    ensure_database,
    migrate,
    product_env,
    running,
    script_command,
    setup_django,
    workdir,
    wrk,
)

ORG_SLUG = "bench-ingest"
BASE_RELEASE = "bench-base-1.0.0"
# Bodies: {{RUN}} is 8 hex digits per run and {{U}} 14 per request, so every sha and version is new.
DEPLOYMENT_BODY = (
    '{"environment": "production", "release": "' + BASE_RELEASE + '", "project": "api",'
    ' "commit_sha": "{{RUN}}{{U}}000000000000000000", "status": "success"}'
)


def release_body(commits: int) -> str:
    items = ", ".join(
        '{"sha": "{{RUN}}{{U}}' + f'{i:018x}", "message": "change {i}", "author_name": "Bench",'
        ' "author_email": "bench@example.com"}'
        for i in range(commits)
    )
    return '{"version": "bench-{{RUN}}-{{U}}", "projects": ["api"], "commits": [' + items + "]}"


SCENARIOS = [
    # name, method, path, body, expected statuses, target name, floor (product/bare req/s)
    ("POST /api/v1/deployments/", "POST", "/api/v1/deployments/", DEPLOYMENT_BODY, (201,), "ingest_deployments", 0.4),
    (
        "POST /api/v1/releases/ (20 commits)",
        "POST",
        "/api/v1/releases/",
        release_body(20),
        (201,),
        "ingest_release_create",
        0.15,
    ),
    ("GET /api/v1/releases/", "GET", "/api/v1/releases/", "", (200,), "ingest_release_list", 0.12),
]


def seed_ingest(url: str) -> str:
    """The organization, a write token, the release the deployments name, and the bare app's tables."""
    setup_django(url)
    from django.db import connection

    from bench import bare_app
    from releases.services import release_create
    from releasetracker.models import Organization
    from releasetracker.services import organization_create, token_issue

    org = Organization.objects.filter(slug=ORG_SLUG).first() or organization_create(slug=ORG_SLUG, name="Bench")
    release_create(organization=org, version=BASE_RELEASE, projects=["api"])
    clear = token_issue(organization=org, name=f"bench {uuid.uuid4().hex[:6]}", scopes=["write"]).clear
    bare_app.ensure_tables()
    connection.close()
    analyze(url)
    return clear


def combine(runs: list[LoadResult]) -> LoadResult:
    """The runs of one app into one figure: total requests over total time, mean p50, worst p99."""
    return LoadResult(
        command=runs[0].command,
        requests=sum(r.requests for r in runs),
        seconds=sum(r.seconds for r in runs),
        p50_ms=sum(r.p50_ms for r in runs) / len(runs),
        p99_ms=max(r.p99_ms for r in runs),
        errors=sum(r.errors for r in runs),
        samples="".join(r.samples for r in runs),
    )


def alternating(bare, product, rounds: int) -> list:
    """Runs in the order bare, product, product, bare, bare, product, ...: ``rounds`` of each app.

    This machine's speed drifts by tens of percent over seconds (other tenants); short runs taking
    turns put the same drift on both apps, so the ratio varies less than with two long halves.
    """
    order = []
    for index in range(rounds):
        order += [bare, product] if index % 2 == 0 else [product, bare]
    return order


def load_phase(report: Report, url: str, token: str, *, seconds: float, connections: int) -> None:
    work = workdir("ingest")
    env = product_env(url)
    run_id = uuid.uuid4().hex[:8]
    rounds = max(2, int(seconds // 2))  # runs of about 2 s (wrk counts whole seconds)
    report.add(
        f"Load: wrk, 2 threads, {connections} connections; each app {seconds:g} s per scenario, in {rounds} runs"
        " of each taking turns (bare, product, product, bare, ...)."
    )
    report.add(
        "Servers: `gunicorn -c gunicorn.conf.py` (sync workers, cores + 1) for both "
        "`releasetracker.wsgi` and `bench.bare_app:application`, on 127.0.0.1, PostgreSQL on the same host."
    )
    report.add("")
    report.add("| scenario | app | requests/s | p50 ms | p99 ms | errors | product/bare |")
    report.add("|---|---|---:|---:|---:|---:|---:|")
    with (
        running("product", "releasetracker.wsgi", env, ready_path="/healthz", workdir=work) as product,
        running("bare", "bench.bare_app:application", env, ready_path="/healthz", workdir=work) as bare,
    ):
        commands = []
        for index, (name, method, path, body, expected, target, floor) in enumerate(SCENARIOS):
            runs: dict[str, list[LoadResult]] = {"bare": [], "product": []}
            for server in (bare, product):
                wrk(
                    server.base_url + path,
                    token=token,
                    method=method,
                    body=body,
                    expected=expected,
                    seconds=1,
                    connections=connections,
                    run_id=f"{run_id[:6]}f{index}",
                    workdir=work,
                    label=f"warm-{server.name}-{index}",
                )
            # As autovacuum would after the inserts so far. After the warm-up, not before: on a new
            # database the tables are empty until then, and the plans each worker's connection
            # keeps for its prepared statements would be made for empty tables (a scan that grows
            # with every insert: 0.40x on a fresh machine, 0.64x in the next run). ANALYZE also
            # makes the workers plan those statements again.
            analyze(url)
            for order, server in enumerate(alternating(bare, product, rounds)):
                result = wrk(
                    server.base_url + path,
                    token=token,
                    method=method,
                    body=body,
                    expected=expected,
                    seconds=seconds / rounds,
                    connections=connections,
                    run_id=f"{run_id[:5]}{index}{order:02x}",
                    workdir=work,
                    label=f"{server.name}-{index}-{order}",
                )
                runs[server.name].append(result)
            b, p = combine(runs["bare"]), combine(runs["product"])
            ratio = p.rps / b.rps if b.rps else 0.0
            for app, r in (("bare", b), ("product", p)):
                report.add(
                    f"| {name} | {app} | {r.rps:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.errors} | "
                    + (f"{ratio:.2f}" if app == "product" else "")
                    + " |"
                )
            for app, r in (("bare", b), ("product", p)):
                if r.errors:
                    print(f"{app} {name}: {r.errors} errors, e.g. {r.samples[:400]}", file=sys.stderr)
            commands.append((name, p.command))
            report.target(Target(f"{target}_ratio", round(ratio, 2), ">=", floor, "x", "product/bare req/s"))
            report.target(Target(f"{target}_errors", p.errors, "==", 0))
            if index == 0:
                bare_deployments = b
        # Context for the ratio: the product's stack alone, with the least a request can do.
        smallest = wrk(
            product.base_url + "/api/v1/organization/",
            token=token,
            seconds=seconds,
            connections=connections,
            workdir=work,
            label="product-organization",
        )
        report.add("")
        report.add(
            f"The product's smallest authenticated request, `GET /api/v1/organization/` (the same token lookup,"
            f" middleware and DRF view, a six-field answer, no write), served {smallest.rps:.0f} requests/s"
            f" ({smallest.errors} errors): {smallest.rps / bare_deployments.rps:.2f}x the bare app's rate for"
            f" a whole deployment write. Command: `{smallest.command}`."
        )
        report.add("")
        report.add("wrk commands (the Lua script, generated by bench/common.py, sends unique bodies):")
        report.add("")
        for name, command in commands:
            report.add(f"- {name}: `{command}`")


def query_counts(report: Report, token: str) -> None:
    """Queries per request of each scenario, counted in this process (the bare app makes 2, 3 and 2)."""
    import json

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    client.get("/api/v1/organization/")  # the token's last use is written at most once a minute
    run = uuid.uuid4().hex[:8]
    counts = []
    for index, (name, method, path, body, *_rest) in enumerate(SCENARIOS):
        data = body.replace("{{RUN}}", run).replace("{{U}}", f"{index:014x}")
        with CaptureQueriesContext(connection) as queries:
            if method == "GET":
                client.get(path)
            else:
                client.post(path, json.loads(data), content_type="application/json")
        statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
        transaction = sum(1 for s in statements if s in {"BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK"})
        counts.append(f"{name}: {len(statements)} ({transaction} of them transaction control)")
    report.add("")
    report.add(
        "Product statements per request (CaptureQueriesContext, in process): "
        + "; ".join(counts)
        + ". The bare app: 2, 3 and 2."
    )


def bulk_phase(report: Report) -> None:
    """Releases of 100 and 1,000 commits in one request each: the query count must not grow."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from releasetracker.models import Organization
    from releasetracker.services import token_issue

    org = Organization.objects.get(slug=ORG_SLUG)
    client = APIClient()
    clear = token_issue(organization=org, name="bulk", scopes=["write"]).clear
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    # A first call records the new token's last use (a write at most once a minute): made here so
    # both measured requests count the same authentication work.
    client.get("/api/v1/organization/")
    run_id = uuid.uuid4().hex[:8]
    counts: dict[int, int] = {}
    times: dict[int, float] = {}
    report.add("| commits in one POST /api/v1/releases/ | status | queries | server time ms |")
    report.add("|---:|---:|---:|---:|")
    for size in (100, 1000):
        payload = {
            "version": f"bulk-{run_id}-{size}",
            "projects": ["api"],
            "commits": [
                {
                    "sha": f"{run_id}{size:08x}{i:024x}",
                    "message": f"change {i}",
                    "author_name": "Bench",
                    "author_email": "bench@example.com",
                    "timestamp": "2026-01-01T00:00:00Z",
                }
                for i in range(size)
            ],
        }
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.post("/api/v1/releases/", payload, format="json")
            times[size] = (time.perf_counter() - started) * 1000
        counts[size] = len(queries.captured_queries)
        if response.status_code != 201:
            raise RuntimeError(f"bulk release of {size} commits answered {response.status_code}: {response.content!r}")
        report.add(f"| {size} | {response.status_code} | {counts[size]} | {times[size]:.0f} |")
    report.add("")
    report.add(
        "Queries counted with `django.test.utils.CaptureQueriesContext` around the test client's POST "
        "(authentication, the transaction and the response's reads included); time is in-process server time."
    )
    report.target(
        Target("bulk_queries_at_1000_commits", counts[1000], "==", counts[100], "", "the count at 100 commits")
    )


HISTORY_ROUNDS = 15
SMALL_ORG_SLUG = "bench-ingest-small"


def history_phase(report: Report, url: str) -> None:
    """A deployment of a new release, and of a new bare sha, in the benchmark's organization (all the
    deployments of the load phase, every run) against an organization with one earlier deployment.

    Each such deployment runs the rollback check's search for the target's earlier deployments,
    which must not read the organization's history (it once took 270-430 ms at 700,000
    deployments). Timed in this process, the two organizations taking turns; medians.
    """
    import statistics

    from deployments.models import Deployment
    from deployments.services import deployment_record
    from releases.services import release_create
    from releasetracker.models import Organization
    from releasetracker.services import organization_create

    big = Organization.objects.get(slug=ORG_SLUG)
    small = Organization.objects.filter(slug=SMALL_ORG_SLUG).first()
    if small is None:
        small = organization_create(slug=SMALL_ORG_SLUG, name="Bench small")
        release_create(organization=small, version=BASE_RELEASE, projects=["api"])
        deployment_record(organization=small, environment="production", release=BASE_RELEASE, project="api")
    analyze(url)
    sizes = {org.slug: Deployment.objects.filter(organization=org).count() for org in (big, small)}
    run = uuid.uuid4().hex[:8]
    times: dict[tuple[str, str], list[float]] = {}
    for index in range(HISTORY_ROUNDS):
        for org in (big, small) if index % 2 == 0 else (small, big):
            version = f"history-{run}-{index}"
            release_create(organization=org, version=version, projects=["api"])  # not timed
            for kind, target in (("release", {"release": version}), ("sha", {"commit_sha": f"{run}{index:032x}"})):
                started = time.perf_counter()
                deployment_record(organization=org, environment="production", project="api", **target)
                times.setdefault((kind, org.slug), []).append((time.perf_counter() - started) * 1000)
    report.add(
        f"In this process, {HISTORY_ROUNDS} deployments of each kind per organization, the two taking turns;"
        " `deployment_record` of a release created just before (not timed), and of a sha no release names."
    )
    report.add("")
    report.add(
        f"| new deployment | {sizes[big.slug]:,} deployments in the organization, median ms"
        f" | {sizes[small.slug]:,}, median ms | ratio |"
    )
    report.add("|---|---:|---:|---:|")
    for kind in ("release", "sha"):
        large = statistics.median(times[(kind, big.slug)])
        little = statistics.median(times[(kind, small.slug)])
        report.add(f"| of a new {kind} | {large:.1f} | {little:.1f} | {large / little:.2f} |")
        report.target(
            Target(
                f"ingest_new_{kind}_long_vs_short_history",
                round(large / little, 2),
                "<=",
                2,
                "x",
                f"{sizes[big.slug]:,} vs {sizes[small.slug]:,} deployments",
            )
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="seconds per app per scenario (default 10)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    parser.add_argument("--only", choices=["load", "bulk", "history"], help="run one part")
    args = parser.parse_args(argv)
    shown = script_command("ingest.py", argv if argv is not None else sys.argv[1:])

    url = database_url()
    ensure_database(url)
    migrate(url)
    token = seed_ingest(url)

    reports = []
    if args.only in (None, "load"):
        ingest = Report("ingest", "Ingest: product vs bare app under gunicorn")
        load_phase(ingest, url, token, seconds=args.seconds, connections=args.connections)
        query_counts(ingest, token)
        reports.append(ingest)
    if args.only in (None, "bulk"):
        bulk = Report("bulk", "Bulk: one release with 1,000 commits")
        bulk_phase(bulk)
        reports.append(bulk)
    if args.only in (None, "history"):
        history = Report("history", "Ingest against the organization's history: the rollback check's search")
        history_phase(history, url)
        reports.append(history)
    code = 0
    for report in reports:
        code |= report.finish(shown, write=not args.no_write)
    return code


if __name__ == "__main__":
    sys.exit(main())
