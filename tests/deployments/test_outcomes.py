"""Each deployment's own outcome, kept on the write path, equals the one computed from scratch.

Random writes through the services (fixed seeds): deployments in two environments and three
streams each (two projects and none), failing, succeeding, tagged ``is_failure``, hotfixes and
rollbacks, sharing times; status changes both ways (which move a deployment in time); the
admin's deletions of deployments and of a project (whose deployments join the stream without a
project). After them the kept columns must be what ``outcomes_fill`` computes, and the failure
rate and recovery time the metrics read from them (with incidents added) must be what a plain
Python reading of the definitions (docs/metrics.md) gives.
"""

import contextlib
import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from deployments.models import Deployment, DeploymentStatus, Environment
from deployments.outcomes import outcomes_fill
from deployments.services import deployment_record, deployment_update
from incidents.models import Incident
from incidents.services import incident_create
from metrics.selectors import deployment_recoveries, dora_metrics
from releases.models import Project
from releasetracker.errors import DomainError

pytestmark = pytest.mark.django_db

START = datetime(2024, 3, 1, tzinfo=UTC)
SINCE = datetime(2024, 3, 8, tzinfo=UTC)
UNTIL = datetime(2024, 3, 22, tzinfo=UTC)
STATUSES = [DeploymentStatus.SUCCESS] * 5 + [DeploymentStatus.FAILURE, DeploymentStatus.IN_PROGRESS]


def _kept(org) -> set[tuple]:
    return set(
        Deployment.objects.filter(organization=org).values_list("id", "failed_alone", "next_clean_id", "next_clean_at")
    )


def _random_writes(org, rng: random.Random, steps: int, *, delete_project: bool = True) -> list[Deployment]:
    deployments: list[Deployment] = []

    def when() -> datetime:
        # Whole hours over three weeks: some deployments share a time.
        return START + timedelta(hours=rng.randrange(24 * 21))

    for step in range(steps):
        action = rng.choice(["deploy"] * 6 + ["status", "status", "delete"])
        if action == "deploy" or not deployments:
            status = rng.choice(STATUSES)
            deployment, _ = deployment_record(
                organization=org,
                environment=rng.choice(["production", "staging"]),
                commit_sha=f"{step:07x}" + "e" * 33,
                project=rng.choice([None, "api", "web"]),
                status=status,
                is_hotfix=rng.random() < 0.12,
                is_rollback=rng.random() < 0.06,
                tags=["is_failure"] if rng.random() < 0.06 else [],
                **{
                    "finished_at"
                    if status in (DeploymentStatus.SUCCESS, DeploymentStatus.FAILURE)
                    else "started_at": when()
                },
            )
            deployments.append(deployment)
        elif action == "status":
            deployment = rng.choice(deployments)
            status = rng.choice([DeploymentStatus.SUCCESS, DeploymentStatus.FAILURE, DeploymentStatus.CANCELED])
            with contextlib.suppress(DomainError):  # a finish before its start is refused
                deployment_update(organization=org, deployment=deployment, status=status, at=when())
        else:
            deployments.pop(rng.randrange(len(deployments))).delete()
        if delete_project and step == steps // 2:
            Project.objects.filter(organization=org, name="web").delete()
    return deployments


@pytest.mark.parametrize("seed", [3, 11, 2024])
def test_the_kept_outcomes_equal_a_computation_from_scratch_after_random_writes(org, other_org, seed):
    rng = random.Random(seed)
    _random_writes(org, rng, steps=150)
    _random_writes(other_org, rng, steps=20)
    kept = _kept(org)

    outcomes_fill()

    assert _kept(org) == kept
    rows = Deployment.objects.filter(organization=org)
    assert rows.filter(failed_alone=True).exists(), "the random writes made failed changes"
    assert rows.filter(next_clean__isnull=False).exists(), "and clean successes after them"


def _deploy(org, at: datetime, **fields) -> Deployment:
    """A deployment to production finished at ``at`` (a success unless ``status`` says otherwise)."""
    deployment, _ = deployment_record(
        organization=org, environment="production", commit_sha=f"{at:%d%H%M}" + "f" * 34, finished_at=at, **fields
    )
    return deployment


def test_a_project_deleted_joins_its_deployments_to_the_stream_without_a_project(org):
    def deploy(hour: int, **fields) -> Deployment:
        return _deploy(org, START + timedelta(hours=hour), **fields)

    bare = deploy(1)
    hotfix = deploy(2, project="web", is_hotfix=True)
    next_bare = deploy(3)
    bare.refresh_from_db()
    assert not bare.failed_alone and bare.next_clean_id == next_bare.pk

    Project.objects.get(organization=org, name="web").delete()

    bare.refresh_from_db()
    assert bare.failed_alone, "the web hotfix now follows it in the same stream"
    assert bare.next_clean_id == hotfix.pk, "and recovers it"


def _by_definition(org, environment: Environment) -> tuple[int, int, int, int, float | None]:
    """(finished, failed, recovered, unrecovered, median recovery) of production deployments in
    [SINCE, UNTIL), read from the rows in Python: docs/metrics.md's definitions, incidents linked."""
    rows = list(Deployment.objects.filter(organization=org, environment=environment).order_by("occurred_at", "id"))
    incidents: dict[int, list] = {}
    for incident in Incident.objects.filter(organization=org):
        incidents.setdefault(incident.deployment_id, []).append(incident)
    streams: dict[int | None, list[Deployment]] = {}
    for row in rows:
        streams.setdefault(row.project_id, []).append(row)
    failed: dict[int, bool] = {}
    for stream in streams.values():
        for index, row in enumerate(stream):
            if row.status == DeploymentStatus.FAILURE:
                failed[row.pk] = True
            elif row.status == DeploymentStatus.SUCCESS:
                later = stream[index + 1 :]
                until_next = []
                for other in later:
                    until_next.append(other)
                    if other.status == DeploymentStatus.SUCCESS:
                        break
                remedied = any(other.is_hotfix or other.is_rollback for other in until_next)
                failed[row.pk] = "is_failure" in row.tags or remedied or row.pk in incidents
            else:
                failed[row.pk] = False
    finished = failed_count = recovered = unrecovered = 0
    seconds = []
    for stream in streams.values():
        for index, row in enumerate(stream):
            if not SINCE <= row.occurred_at < UNTIL:
                continue
            finished += row.status in (DeploymentStatus.SUCCESS, DeploymentStatus.FAILURE)
            if not failed[row.pk]:
                continue
            failed_count += 1
            if row.pk in incidents:
                ends = [i.resolved_at for i in incidents[row.pk]]
                if None in ends:
                    unrecovered += 1
                else:
                    recovered += 1
                    seconds.append((max(ends) - min(i.started_at for i in incidents[row.pk])).total_seconds())
                continue
            good = next(
                (o for o in stream[index + 1 :] if o.status == DeploymentStatus.SUCCESS and not failed[o.pk]), None
            )
            if good is None:
                unrecovered += 1
            else:
                recovered += 1
                seconds.append((good.occurred_at - row.occurred_at).total_seconds())
    return finished, failed_count, recovered, unrecovered, (statistics.median(seconds) if seconds else None)


@pytest.mark.parametrize("seed", [5, 17])
def test_failure_rate_and_recovery_after_random_writes_are_what_the_definitions_give(org, seed):
    rng = random.Random(seed)
    deployments = _random_writes(org, rng, steps=150, delete_project=False)
    # Incidents that name a deployment: some resolved, some open. A clean success with one is a
    # failed change, and the failures before it recover only at the next clean success with none.
    successes = [d for d in deployments if Deployment.objects.filter(pk=d.pk, status="success").exists()]
    for deployment in rng.sample(successes, len(successes) // 4):
        deployment.refresh_from_db()
        started = deployment.occurred_at + timedelta(minutes=rng.randrange(1, 300))
        resolved = None if rng.random() < 0.2 else started + timedelta(minutes=rng.randrange(5, 600))
        incident_create(
            organization=org,
            title="Down",
            deployment=deployment,
            started_at=started,
            resolved_at=resolved,
        )
    production = Environment.objects.get(organization=org, name="production")

    body = dora_metrics(organization=org, since=SINCE, until=UNTIL, environment="production")

    finished, failed, recovered, unrecovered, median = _by_definition(org, production)
    assert failed > 5 and recovered > 5, "the random writes made failed changes and recoveries"
    failure, recovery = body["change_failure_rate"], body["recovery_time"]
    assert (failure["total"], failure["failed"]) == (finished, failed)
    assert (recovery["recovered"], recovery["unrecovered"]) == (recovered, unrecovered)
    assert recovery["median_seconds"] == (None if median is None else round(median, 3))


def test_a_failure_recovers_at_the_first_clean_success_without_incidents(org):
    def deploy(hour: int, **fields) -> Deployment:
        return _deploy(org, SINCE + timedelta(hours=hour), **fields)

    failure = deploy(1, status=DeploymentStatus.FAILURE)
    for hour in (2, 3):  # two clean successes in a row, each blamed by an incident
        started = SINCE + timedelta(hours=hour, minutes=10)
        incident_create(
            organization=org, title="Down", deployment=deploy(hour), started_at=started, resolved_at=started
        )
    recovering = deploy(5)

    # A window holding the failure alone: it recovers at 5h, 4 hours later.
    body = dora_metrics(organization=org, since=SINCE, until=SINCE + timedelta(hours=2), environment="production")
    recoveries = deployment_recoveries(organization=org, deployments=[failure])

    assert body["change_failure_rate"]["failed"] == 1
    assert body["recovery_time"]["median_seconds"] == 4 * 3600
    assert recoveries[failure.pk].recovered_by == recovering


def test_a_failure_whose_only_later_clean_success_has_incidents_is_unrecovered(org):
    failure = _deploy(org, SINCE + timedelta(hours=1), status=DeploymentStatus.FAILURE)
    started = SINCE + timedelta(hours=2, minutes=10)
    blamed = _deploy(org, SINCE + timedelta(hours=2))
    incident_create(organization=org, title="Down", deployment=blamed, started_at=started, resolved_at=started)

    body = dora_metrics(organization=org, since=SINCE, until=SINCE + timedelta(hours=2), environment="production")
    recoveries = deployment_recoveries(organization=org, deployments=[failure])

    recovery = body["recovery_time"]
    assert (body["change_failure_rate"]["failed"], recovery["recovered"], recovery["unrecovered"]) == (1, 0, 1)
    assert recoveries[failure.pk].recovered_by is None and recoveries[failure.pk].seconds is None
