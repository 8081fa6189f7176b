"""Incidents in change failure rate and recovery time, read through GET /api/v1/metrics/dora/.

An incident is attributed to the deployment it names; else to the latest successful production
deployment that shipped its commit; else to the latest successful deployment to its environment
(and project); the last two only within the organization's attribution window.
"""

from datetime import UTC, datetime, timedelta

import pytest

from deployments.services import deployment_record
from incidents.services import incident_create, incident_settings_update
from releases.services import CommitInput, release_create

pytestmark = pytest.mark.django_db

URL = "/api/v1/metrics/dora/"
OCTOBER = {"since": "2024-10-01T00:00:00Z", "until": "2024-11-01T00:00:00Z"}
SHA = "c0ffee1" + "0" * 33


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2024, 10, day, hour, tzinfo=UTC)


def deploy(org, day: int, **fields):
    fields.setdefault("commit_sha", f"{day:07x}" + "a" * 33)
    deployment, _ = deployment_record(organization=org, environment="production", finished_at=at(day), **fields)
    return deployment


def incident(org, started: datetime, hours: float | None, **fields):
    resolved = started + timedelta(hours=hours) if hours is not None else None
    created, _ = incident_create(
        organization=org, title="Checkout down", started_at=started, resolved_at=resolved, **fields
    )
    return created


def metrics(read_api, **query) -> dict:
    response = read_api.get(URL, OCTOBER | query)
    assert response.status_code == 200, response.content
    return response.json()


def failed_by_day(read_api) -> dict[str, int]:
    """Failed changes per day ("2024-10-02": 1), to tell which deployment an incident blamed."""
    series = metrics(read_api, bucket="day")["change_failure_rate"]["series"]
    return {row["start"][:10]: row["failed"] for row in series}


def summary(body: dict) -> tuple:
    failure, recovery = body["change_failure_rate"], body["recovery_time"]
    return (
        failure["failed"],
        failure["total"],
        recovery["median_seconds"],
        recovery["recovered"],
        recovery["unrecovered"],
        body["incidents"]["unattributed"],
    )


def test_the_issue_example_fails_three_changes_of_four_with_a_median_recovery_of_three_hours(org, read_api):
    deploy(org, 2)
    d2 = deploy(org, 5)
    deploy(org, 10)
    deploy(org, 20)
    incident(org, at(6), 2, deployment=d2)  # linked to D2
    incident(org, at(12), 4)  # attributed to D3, the latest production deployment before it
    incident(org, at(21), None)  # still open: D4

    body = metrics(read_api)

    assert summary(body) == (3, 4, 3 * 3600.0, 2, 1, 0)
    assert body["change_failure_rate"]["rate"] == 0.75


def test_a_deployment_with_several_incidents_fails_once_and_recovers_when_the_last_one_ends(org, read_api):
    deploy(org, 2)
    deploy(org, 10)
    incident(org, at(11, 8), 1)  # 08:00-09:00
    incident(org, at(11, 10), 3)  # 10:00-13:00

    assert summary(metrics(read_api)) == (1, 2, 5 * 3600.0, 1, 0, 0)


def test_an_incident_naming_a_commit_blames_the_deployment_that_shipped_it_not_the_latest(org, read_api):
    release_create(organization=org, version="1.0.0", commits=[CommitInput(sha=SHA)])
    shipped = deploy(org, 2, release="1.0.0", commit_sha="")
    later = deploy(org, 4)
    incident(org, at(5), 1, commit_sha=SHA[:7])

    body = metrics(read_api)

    assert summary(body) == (1, 2, 3600.0, 1, 0, 0)
    # The failed change is the deployment of Oct 2, not the later one of Oct 4.
    days = failed_by_day(read_api)
    assert (days["2024-10-02"], days["2024-10-04"]) == (1, 0)
    assert shipped.release is not None and later.release is None


def test_an_incident_naming_a_bare_sha_blames_the_deployment_of_that_sha(org, read_api):
    deploy(org, 2, commit_sha=SHA)
    deploy(org, 4)
    incident(org, at(5), 1, commit_sha=SHA)

    days = failed_by_day(read_api)

    assert (days["2024-10-02"], days["2024-10-04"]) == (1, 0)


def test_an_incident_after_the_attribution_window_is_unattributed(org, read_api):
    deploy(org, 2)
    incident(org, at(9, 13), 1)  # 7 days and 1 hour after the deployment

    assert summary(metrics(read_api)) == (0, 1, None, 0, 0, 1)


def test_the_attribution_window_is_the_organizations_setting(org, read_api):
    incident_settings_update(organization=org, attribution_window=timedelta(days=10))
    deploy(org, 2)
    incident(org, at(9, 13), 1)

    assert summary(metrics(read_api)) == (1, 1, 3600.0, 1, 0, 0)


def test_a_commit_shipped_outside_the_window_falls_back_to_the_environment(org, read_api):
    deploy(org, 2, commit_sha=SHA)
    deploy(org, 12)
    incident(org, at(13), 2, commit_sha=SHA)  # SHA shipped 11 days before: too long ago

    days = failed_by_day(read_api)

    assert (days["2024-10-02"], days["2024-10-12"]) == (0, 1)


def test_an_incident_of_a_project_blames_only_that_projects_deployments(org, read_api):
    deploy(org, 2, project="api")
    deploy(org, 3, project="web")
    incident(org, at(4), 1, project="api")

    days = failed_by_day(read_api)

    assert (days["2024-10-02"], days["2024-10-03"]) == (1, 0)


def test_an_incident_before_any_deployment_is_unattributed(org, read_api):
    incident(org, at(1), 1)
    deploy(org, 2)

    assert summary(metrics(read_api)) == (0, 1, None, 0, 0, 1)


def test_another_organizations_incidents_change_nothing(org, other_org, read_api):
    deploy(org, 2)
    deploy(other_org, 2)
    incident(other_org, at(3), 1)

    assert summary(metrics(read_api)) == (0, 1, None, 0, 0, 0)
