"""Each commit's first successful deployment, kept on the write path, equals the one computed from scratch.

Random writes through the services (fixed seed): releases, deployments of releases and of bare
shas, status changes both ways, commits appended to deployed releases, commits pushed with the
sha an earlier deployment named (and, by the one rule for shas, full shas completing abbreviated
ones). After them the kept rows must be what ``first_deployments_fill`` computes from the
deployments, and lead time (which reads the rows) must be what a plain Python reading of the
definition (docs/metrics.md) gives.
"""

import contextlib
import hashlib
import importlib
import random
import statistics
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import connection

from deployments.first_deployments import first_deployments_fill
from deployments.models import FINAL_STATUSES, Deployment, DeploymentStatus, Environment, FirstDeployment
from deployments.services import deployment_record, deployment_update, environment_update
from metrics import queries
from releases.models import Commit, Project, Release, ReleaseCommit
from releases.services import CommitInput, commits_record, release_add_commits, release_create
from releasetracker.errors import DomainError

pytestmark = pytest.mark.django_db

START = datetime(2024, 3, 1, tzinfo=UTC)
SINCE = datetime(2024, 3, 11, tzinfo=UTC)
UNTIL = datetime(2024, 3, 25, tzinfo=UTC)
ENVIRONMENTS = ["production", "prod", "staging"]
STATUSES = [DeploymentStatus.SUCCESS] * 3 + [DeploymentStatus.FAILURE, DeploymentStatus.IN_PROGRESS]


def sha(number: int) -> str:
    return hashlib.sha256(str(number).encode()).hexdigest()[:40]


def _rows(org) -> set[tuple]:
    return set(
        FirstDeployment.objects.filter(organization=org).values_list(
            "commit_id", "environment_key", "project_key", "deployment_id", "occurred_at", "committed_at", "lead_bin"
        )
    )


def _random_writes(org, rng: random.Random, steps: int) -> None:
    releases, deployments = [], []

    def when() -> datetime:
        # Whole hours over four weeks: some deployments share a time, as in real batches.
        return START + timedelta(hours=rng.randrange(24 * 28))

    def times(status: str) -> dict:
        return {"finished_at" if status in FINAL_STATUSES else "started_at": when()}

    def commits(count: int) -> list[CommitInput]:
        numbers = rng.sample(range(40), count)
        # Every fifth commit comes without a time: a later push of it (its short sha) brings one.
        return [CommitInput(sha=sha(n), timestamp=START - timedelta(hours=n) if n % 5 else None) for n in numbers]

    for step in range(steps):
        action = rng.choice(
            ["release", "deploy", "deploy", "deploy_sha", "status", "status", "append", "push", "production"]
        )
        if action == "release" or not releases:
            version = f"1.{step}"
            project = rng.choice([["api"], ["web"], [], ["api", "web"]])
            release_create(organization=org, version=version, projects=project, commits=commits(rng.randint(1, 4)))
            releases.append(version)
        elif action == "deploy":
            deployment, _ = deployment_record(
                organization=org,
                environment=rng.choice(ENVIRONMENTS),
                release=rng.choice(releases),
                project=rng.choice([None, "api", "web"]),
                status=(status := rng.choice(STATUSES)),
                **times(status),
            )
            deployments.append(deployment)
        elif action == "deploy_sha":
            # A known commit's full sha, an abbreviation of one (no commit has it exactly: it
            # counts only once a push brings that exact sha), or a sha never seen.
            number = rng.randrange(60)
            named = rng.choice([sha(number), sha(number)[:8]])
            deployment, _ = deployment_record(
                organization=org,
                environment=rng.choice(ENVIRONMENTS),
                commit_sha=named,
                status=(status := rng.choice(STATUSES)),
                **times(status),
            )
            deployments.append(deployment)
        elif action == "status" and deployments:
            deployment = rng.choice(deployments)
            status = rng.choice([DeploymentStatus.SUCCESS, DeploymentStatus.FAILURE, DeploymentStatus.CANCELED])
            # A finish before its start is refused, and changes nothing.
            with contextlib.suppress(DomainError):
                deployment_update(organization=org, deployment=deployment, status=status, at=when())
        elif action == "append":
            release = Release.objects.get(organization=org, version=rng.choice(releases))
            release_add_commits(organization=org, release=release, commits=commits(rng.randint(1, 3)))
        elif action == "push":
            number = rng.randrange(60)
            commits_record(organization=org, commits=[CommitInput(sha=sha(number)[:8], timestamp=START)])
        elif action == "production":
            # An environment joins or leaves production: the "every production environment" scope changes.
            environment = Environment.objects.filter(organization=org, name=rng.choice(ENVIRONMENTS)).first()
            if environment is not None:
                environment_update(
                    organization=org, environment=environment, is_production=not environment.is_production
                )


def _lead_time_by_definition(org, environments: list[Environment], project: Project | None) -> tuple[int, float]:
    """Commits first deployed (successfully, in scope) inside the window, and their median lead time."""
    first: dict[int, datetime] = {}
    scoped = Deployment.objects.filter(organization=org, environment__in=environments, status="success")
    if project is not None:
        scoped = scoped.filter(project=project)
    for deployment in scoped:
        if deployment.release_id:
            commit_ids = ReleaseCommit.objects.filter(release_id=deployment.release_id).values_list(
                "commit_id", flat=True
            )
        else:
            commit_ids = Commit.objects.filter(organization=org, sha=deployment.commit_sha).values_list("id", flat=True)
        for commit_id in commit_ids:
            if commit_id not in first or deployment.occurred_at < first[commit_id]:
                first[commit_id] = deployment.occurred_at
    seconds = []
    for commit_id, deployed_at in first.items():
        if SINCE <= deployed_at < UNTIL:
            commit = Commit.objects.get(pk=commit_id)
            value = (deployed_at - (commit.timestamp or commit.created_at)).total_seconds()
            if value > 0:
                seconds.append(value)
    return len(seconds), (statistics.median(seconds) if seconds else None)


@pytest.mark.parametrize("seed", [7, 2024])
def test_the_kept_first_deployments_equal_a_computation_from_scratch_after_random_writes(org, other_org, seed):
    rng = random.Random(seed)
    _random_writes(org, rng, steps=160)
    _random_writes(other_org, rng, steps=20)
    kept = _rows(org)

    first_deployments_fill()

    assert kept, "the random writes deployed something"
    assert _rows(org) == kept


@pytest.mark.parametrize("seed", [7, 2024])
def test_lead_time_after_random_writes_is_what_the_definition_gives(org, seed):
    _random_writes(org, random.Random(seed), steps=160)
    production = list(Environment.objects.filter(organization=org, is_production=True))
    projects = [None, *Project.objects.filter(organization=org)]
    # Every production environment together, and each environment on its own; each with every
    # project and with one.
    scopes = [(production, FirstDeployment.ALL, project) for project in projects]
    scopes += [
        ([environment], environment.pk, project)
        for environment in Environment.objects.filter(organization=org)
        for project in projects
    ]
    assert len(scopes) >= 9

    for environments, environment_key, project in scopes:
        scope = queries.Scope(
            organization_id=org.pk,
            environment_ids=[e.pk for e in environments],
            project_id=project.pk if project else None,
            since=SINCE,
            until=UNTIL,
            anchor=SINCE,
            bucket_seconds=7 * 86400,
            environment_key=environment_key,
        )
        total = queries.lead_times(scope).get(queries.TOTAL, {"commits": 0, "lead_median": None})
        commits, median = _lead_time_by_definition(org, environments, project)

        assert total["commits"] == commits, (environments, project)
        assert total["lead_median"] == pytest.approx(median)


def _lead_time(org, environments: list[Environment]) -> tuple[int, float | None]:
    scope = queries.Scope(
        organization_id=org.pk,
        environment_ids=[e.pk for e in environments],
        project_id=None,
        since=SINCE,
        until=UNTIL,
        anchor=SINCE,
        bucket_seconds=7 * 86400,
        environment_key=environments[0].pk,
    )
    total = queries.lead_times(scope).get(queries.TOTAL, {"commits": 0, "lead_median": None})
    return total["commits"], total["lead_median"]


FULL_SHA_ARRIVALS = {
    "a push": lambda org, full: commits_record(
        organization=org, commits=[CommitInput(sha=full, timestamp=SINCE - timedelta(hours=5))]
    ),
    "a release": lambda org, full: release_create(
        organization=org,
        version="2.0",
        projects=[],
        commits=[CommitInput(sha=full, timestamp=SINCE - timedelta(hours=5))],
    ),
}


@pytest.mark.parametrize("arrival", list(FULL_SHA_ARRIVALS))
def test_a_short_sha_deployed_before_its_full_sha_arrives_keeps_its_first_deployments_exact(org, arrival):
    full = sha(500)
    staging, _ = deployment_record(
        organization=org, environment="staging", commit_sha=full[:7], status="success", finished_at=SINCE
    )
    production, _ = deployment_record(
        organization=org,
        environment="production",
        commit_sha=full[:7],
        status="success",
        finished_at=SINCE + timedelta(hours=3),
    )
    # An earlier deployment of the same commit by a longer abbreviation, renamed by the rule too.
    deployment_record(
        organization=org,
        environment="production",
        commit_sha=full[:10],
        status="failure",
        finished_at=SINCE + timedelta(hours=1),
    )

    FULL_SHA_ARRIVALS[arrival](org, full)
    kept = _rows(org)
    environments = list(Environment.objects.filter(organization=org, name="production"))
    lead = _lead_time(org, environments)
    first_deployments_fill()

    commit = Commit.objects.get(organization=org, sha=full)
    assert not Commit.objects.filter(organization=org, sha=full[:7]).exists()
    assert Deployment.objects.get(pk=production.pk).commit_sha == full
    assert {(row[0], row[3]) for row in kept} == {(commit.pk, staging.pk), (commit.pk, production.pk)}
    assert _rows(org) == kept
    assert lead == (1, 8 * 3600.0)
    assert lead == _lead_time_by_definition(org, environments, None)


def test_the_migration_fills_the_same_rows_for_deployments_recorded_before_it(org):
    _random_writes(org, random.Random(11), steps=120)
    kept = _rows(org)
    FirstDeployment.objects.all().delete()

    fill = importlib.import_module("deployments.migrations.0011_first_deployment_scopes").FILL
    with connection.cursor() as cursor:
        cursor.execute(fill)
    assert {row[-1] for row in _rows(org)} == {-1}, "0011 knows no lead-time bins"
    # 0012's fill uses only the schema editor's connection.
    lead_bins = importlib.import_module("deployments.migrations.0013_first_deployment_lead_bin").fill
    lead_bins(None, SimpleNamespace(connection=connection))

    assert kept
    assert {row[-1] for row in kept} != {-1}, "the random writes binned some lead times"
    assert _rows(org) == kept


def _deployed_again(row: FirstDeployment) -> bool:
    """Whether another success deployed the row's release to the same place (its deletion then moves the row)."""
    first = row.deployment
    return (
        first.release_id is not None
        and Deployment.objects.filter(
            release_id=first.release_id,
            environment_id=first.environment_id,
            project_id=first.project_id,
            status="success",
        )
        .exclude(pk=first.pk)
        .exists()
    )


def _first_rows(org):
    return FirstDeployment.objects.filter(organization=org).select_related("deployment").order_by("occurred_at", "id")


# What the admin's delete does: Model.delete, cascades and SET_NULL included.
DELETIONS = {
    "deployment": lambda org: next(r for r in _first_rows(org) if _deployed_again(r)).deployment.delete(),
    "release": lambda org: next(r for r in _first_rows(org) if _deployed_again(r)).deployment.release.delete(),
    "release commit": lambda org: ReleaseCommit.objects.get(
        release=next(r for r in _first_rows(org) if _deployed_again(r)).deployment.release_id,
        commit=next(r for r in _first_rows(org) if _deployed_again(r)).commit_id,
    ).delete(),
    "project": lambda org: Project.objects.get(organization=org, name="api").delete(),
}


@pytest.mark.parametrize("deletion", list(DELETIONS))
def test_the_kept_first_deployments_stay_exact_when_the_admin_deletes_rows_they_depend_on(org, other_org, deletion):
    rng = random.Random(5)
    _random_writes(org, rng, steps=120)
    _random_writes(other_org, rng, steps=20)
    before = _rows(org)

    DELETIONS[deletion](org)
    kept = _rows(org)
    other = _rows(other_org)
    first_deployments_fill()

    assert kept != before, "the deletion moved some first deployment"
    assert _rows(org) == kept
    assert _rows(other_org) == other


def test_a_commit_gaining_its_time_moves_its_lead_time_bin(org):
    full = sha(600)
    release_create(organization=org, version="3.0", projects=[], commits=[CommitInput(sha=full, timestamp=None)])
    deployment_record(organization=org, environment="production", release="3.0", status="success", finished_at=SINCE)
    # Without a time the commit counts from when the tracker saw it: after the deployment.
    assert {row[-1] for row in _rows(org)} == {-1}

    commits_record(organization=org, commits=[CommitInput(sha=full, timestamp=SINCE - timedelta(hours=5))])
    kept = _rows(org)
    first_deployments_fill()

    # 5 hours: the 120-second bins from one hour on, which start at bin 296.
    assert {row[-1] for row in kept} == {296 + (5 * 3600 - 3600) // 120}
    assert _rows(org) == kept
