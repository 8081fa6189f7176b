"""deployment_commits_since_previous: what a deployment ships over the one live before it."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deployments.selectors import deployment_commits_since_previous
from deployments.services import deployment_change_status, deployment_record
from releases.services import CommitInput, release_create

pytestmark = pytest.mark.django_db

T0 = timezone.now() - timedelta(days=60)


def sha(n: int) -> str:
    return f"{n:040x}"


def release(org, version: str, numbers, *, project: str = "api", day: int = 0):
    """A release of ``project`` with commits ``numbers`` (commit n is n minutes after T0)."""
    commits = [
        CommitInput(sha=sha(n), message=f"change {n}", author_name="Alice", timestamp=T0 + timedelta(minutes=n))
        for n in numbers
    ]
    created, _ = release_create(
        organization=org,
        version=version,
        projects=[project] if project else [],
        commits=commits,
        created_at=T0 + timedelta(days=day),
    )
    return created


def deploy(org, rel, *, environment="production", project="api", day=0, status="success"):
    deployment, _ = deployment_record(
        organization=org,
        environment=environment,
        release=rel,
        project=project,
        status=status,
        finished_at=T0 + timedelta(days=day, hours=1) if status == "success" else None,
    )
    return deployment


def shipped(org, deployment, limit=10):
    result = deployment_commits_since_previous(organization=org, deployment=deployment, limit=limit)
    return result, [c.sha for c in result.commits]


def test_the_first_deployment_lists_its_release_commits(org):
    first = deploy(org, release(org, "1.0.0", [1, 2, 3]))
    result, shas = shipped(org, first)
    assert result.previous is None
    assert (result.total, shas) == (3, [sha(3), sha(2), sha(1)])


def test_it_lists_the_commits_since_the_previous_successful_deployment_there(org):
    old = release(org, "1.0.0", [1, 2], day=0)
    deploy(org, old, day=0)
    release(org, "1.1.0", [3, 4], day=1)  # released, never deployed to production
    new = release(org, "1.2.0", [2, 5], day=2)  # lists commit 2 again: shipped with 1.0.0 already
    deployment = deploy(org, new, day=2)
    result, shas = shipped(org, deployment)
    assert result.previous.release == old
    assert (result.total, shas) == (3, [sha(5), sha(4), sha(3)])


def test_failures_other_environments_and_other_projects_are_not_the_previous_deployment(org):
    base = release(org, "1.0.0", [1], day=0)
    deploy(org, base, day=0)
    staging_only = release(org, "1.1.0", [2], day=1)
    deploy(org, staging_only, environment="staging", day=1)
    failed = release(org, "1.2.0", [3], day=2)
    deploy(org, failed, day=2, status="failure")
    web = release(org, "9.0.0", [9], project="web", day=3)
    deploy(org, web, project="web", day=3)
    head = release(org, "1.3.0", [4], day=4)
    result, shas = shipped(org, deploy(org, head, day=4))
    assert result.previous.release == base
    # 9.0.0 is another project's release: not part of api's story.
    assert shas == [sha(4), sha(3), sha(2)]


def test_a_redeployment_and_a_rollback_ship_nothing_new(org):
    one = release(org, "1.0.0", [1], day=0)
    two = release(org, "2.0.0", [2], day=1)
    deploy(org, one, day=0)
    deploy(org, two, day=1)
    again = deploy(org, two, day=2)
    assert shipped(org, again)[0].total == 0
    back = deploy(org, one, day=3)
    assert back.is_rollback
    result, shas = shipped(org, back)
    assert result.previous.release == two
    assert (result.total, shas) == (0, [])


def test_an_in_progress_deployment_compares_with_what_is_live(org):
    deploy(org, release(org, "1.0.0", [1], day=0), day=0)
    running = deploy(org, release(org, "1.1.0", [2], day=1), status="in_progress")
    result, shas = shipped(org, running)
    assert result.previous.release.version == "1.0.0"
    assert shas == [sha(2)]
    finished = deployment_change_status(organization=org, deployment=running, status="success")
    assert shipped(org, finished)[1] == [sha(2)]


def test_a_bare_sha_lists_its_commit_when_known(org):
    release(org, "1.0.0", [1, 2], project="")
    release(org, "1.0.1", [2, 3], project="", day=1)
    deployment, _ = deployment_record(organization=org, environment="production", commit_sha=sha(2))
    # Two releases contain the commit: the deployment names no release, only the sha.
    assert deployment.release is None
    result, shas = shipped(org, deployment)
    assert (result.total, shas) == (1, [sha(2)])
    unknown, _ = deployment_record(organization=org, environment="production", commit_sha="abcdef1234567")
    result, shas = shipped(org, unknown)
    assert result.previous == deployment
    assert (result.total, shas) == (1, ["abcdef1234567"])  # the tracker remembers a deployed bare sha


def test_a_thousand_commits_are_counted_and_only_the_limit_is_read(org):
    deploy(org, release(org, "1.0.0", [0], day=0), day=0)
    big = deploy(org, release(org, "2.0.0", range(1, 1001), day=1), day=1)
    result, shas = shipped(org, big, limit=10)
    assert result.total == 1000
    assert shas == [sha(n) for n in range(1000, 990, -1)]


def test_the_query_count_does_not_grow_with_the_history(org):
    def queries(deployment) -> int:
        deployment.refresh_from_db()
        deployment = type(deployment).objects.select_related("release").get(pk=deployment.pk)
        with CaptureQueriesContext(connection) as ctx:
            shipped(org, deployment)
        return len(ctx.captured_queries)

    deploy(org, release(org, "0.1", [1], day=0), day=0)
    short = queries(deploy(org, release(org, "0.2", [2], day=1), day=1))
    for n in range(3, 23):
        deploy(org, release(org, f"0.{n}", [n, n + 100], day=n), day=n)
    long = queries(deploy(org, release(org, "1.0", [500], day=40), day=40))
    assert short == long == 3


def rows_read_in_all(plan: dict) -> int:
    """Rows every scan of the plan returned or filtered out, over all its loops."""
    total = 0
    if "Relation Name" in plan:
        total += (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * plan.get("Actual Loops", 1)
    return total + sum(rows_read_in_all(child) for child in plan.get("Plans", []))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plans checked here are PostgreSQL's")
def test_it_reads_what_the_deployment_ships_never_the_history(org):
    from deployments.models import Deployment, Environment
    from releases.models import Commit, Project, Release, ReleaseCommit, ReleaseProject
    from tests.plans import explain_analyze

    releases, per_release = 400, 20
    project = Project.objects.create(organization=org, name="api")
    env = Environment.objects.create(organization=org, name="production", is_production=True)
    old = Release.objects.bulk_create(
        Release(organization=org, version=f"0.{n}", created_at=T0 + timedelta(minutes=n)) for n in range(releases)
    )
    ReleaseProject.objects.bulk_create(ReleaseProject(organization=org, release=r, project=project) for r in old)
    commits = Commit.objects.bulk_create(
        Commit(organization=org, sha=sha(n), timestamp=T0 + timedelta(seconds=n)) for n in range(releases * per_release)
    )
    ReleaseCommit.objects.bulk_create(
        ReleaseCommit(organization=org, release=old[n // per_release], commit=commit, position=n % per_release)
        for n, commit in enumerate(commits)
    )
    Deployment.objects.bulk_create(
        Deployment(
            organization=org,
            environment=env,
            project=project,
            release=r,
            status="success",
            occurred_at=T0 + timedelta(minutes=n, seconds=30),
            created_at=T0,
        )
        for n, r in enumerate(old)
    )
    with connection.cursor() as cursor:
        for table in ("releases_commit", "releases_releasecommit", "releases_release", "deployments_deployment"):
            cursor.execute(f"ANALYZE {table}")
    head = release(org, "1.0.0", [releases * per_release + n for n in range(3)] + [5], day=20)
    deployment = deploy(org, head, day=20)

    with CaptureQueriesContext(connection) as ctx:
        result, shas = shipped(org, deployment)
    assert result.previous.release == old[-1]
    assert result.total == 3  # commit 5 came with 0.0
    assert len(ctx.captured_queries) == 3
    for query in ctx.captured_queries:
        read = rows_read_in_all(explain_analyze(query["sql"], None))
        assert read <= 60, (read, query["sql"])
