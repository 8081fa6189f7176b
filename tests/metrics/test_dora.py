"""DORA metrics against hand-computed scenarios, one per rule and edge case of DESIGN.md.

Every scenario is built through the services (``release_create``, ``deployment_record``) with
explicit times, so the tests cover the whole path from a recorded deployment to the number.
"""

from datetime import UTC, datetime, timedelta

import pytest

from deployments.services import deployment_record, deployment_update, environment_update
from metrics.selectors import (
    dora_metrics,
    failure_rate_band,
    frequency_band,
    lead_time_band,
    previous_window,
    recovery_band,
)
from releases.models import Commit
from releases.services import CommitInput, commits_upsert
from releasetracker.errors import DomainError
from tests.metrics.scenario import (
    EXPECTED,
    EXPECTED_WEEKS,
    SINCE,
    UNTIL,
    at,
    build_worked_example,
    deploy,
    release,
    sha,
)

pytestmark = pytest.mark.django_db

HOUR = 3600.0
DAY = 86400.0


def metrics(org, since=SINCE, until=UNTIL, **kwargs) -> dict:
    return dora_metrics(organization=org, since=since, until=until, **kwargs)


def totals(result: dict) -> dict:
    """The result without its series, to compare with hand-computed totals."""
    return {
        key: {name: value for name, value in section.items() if name != "series"}
        for key, section in result.items()
        if isinstance(section, dict)
    }


# The worked example of docs/metrics.md ------------------------------------------------------


def test_the_worked_example_gives_the_hand_computed_numbers(org, other_org):
    build_worked_example(org, other_org)

    result = metrics(org)

    assert totals(result) == EXPECTED
    assert result["since"] == "2024-03-04T00:00:00Z" and result["until"] == "2024-03-18T00:00:00Z"
    assert result["project"] is None and result["environment"] is None


def test_the_worked_example_gives_the_hand_computed_weekly_series(org, other_org):
    build_worked_example(org, other_org)

    result = metrics(org, bucket="week")

    starts = ["2024-03-04T00:00:00Z", "2024-03-11T00:00:00Z"]
    assert [b["start"] for b in result["deployment_frequency"]["series"]] == starts
    assert [b["count"] for b in result["deployment_frequency"]["series"]] == EXPECTED_WEEKS["deployments"]
    assert [b["median_seconds"] for b in result["lead_time"]["series"]] == EXPECTED_WEEKS["lead_median"]
    assert [(b["failed"], b["total"]) for b in result["change_failure_rate"]["series"]] == EXPECTED_WEEKS[
        "failed_total"
    ]
    assert [b["median_seconds"] for b in result["recovery_time"]["series"]] == EXPECTED_WEEKS["recovery_median"]
    assert [(b["rework"], b["total"]) for b in result["rework_rate"]["series"]] == EXPECTED_WEEKS["rework_total"]
    for key in ("lead_time", "change_failure_rate", "recovery_time", "rework_rate"):
        assert [b["start"] for b in result[key]["series"]] == starts


def test_the_other_organization_sees_only_its_own_deployments(org, other_org):
    build_worked_example(org, other_org)

    result = metrics(other_org)

    assert result["deployment_frequency"]["count"] == 1
    assert result["change_failure_rate"] | {"series": None} == {
        "failed": 1,
        "total": 2,
        "rate": 0.5,
        "band": "low",
        "series": None,
    }
    assert result["recovery_time"]["median_seconds"] == HOUR
    assert result["lead_time"]["median_seconds"] == 24 * HOUR + HOUR


# Change lead time -----------------------------------------------------------------------------


def test_a_commit_deployed_twice_counts_once_at_its_first_deployment(org):
    release(org, "1.0", {1: at(0)})
    deploy(org, "1.0", at(1))
    # 1.1 carries commit 1 again (a cumulative commit list) plus commit 2.
    release(org, "1.1", {1: at(0), 2: at(2)})
    deploy(org, "1.1", at(2, 6))

    lead = metrics(org)["lead_time"]

    assert lead["commits"] == 2
    # Commit 1: 1 day (its first deployment, not the second); commit 2: 6 hours.
    assert lead["median_seconds"] == (DAY + 6 * HOUR) / 2
    assert lead["p90_seconds"] == 6 * HOUR + 0.9 * (DAY - 6 * HOUR)


def test_a_commit_first_deployed_before_the_window_is_not_counted_in_it(org):
    release(org, "1.0", {1: at(-2)})
    deploy(org, "1.0", at(-1))
    release(org, "1.1", {1: at(-2), 2: at(1)})
    deploy(org, "1.1", at(1, 3))

    lead = metrics(org)["lead_time"]

    assert lead["commits"] == 1
    assert lead["median_seconds"] == 3 * HOUR


def test_only_successful_deployments_start_a_commits_lead_time(org):
    release(org, "1.0", {1: at(0)})
    deploy(org, "1.0", at(0, 1), status="failure")
    deploy(org, "1.0", at(0, 2), status="canceled")
    deploy(org, "1.0", at(0, 5))

    assert metrics(org)["lead_time"]["median_seconds"] == 5 * HOUR


def test_an_unknown_commit_timestamp_falls_back_to_when_the_tracker_first_saw_it(org):
    # The tracker sees the commit now (created_at); its author time is unknown.
    release(org, "1.0", {1: None})
    seen = Commit.objects.get(organization=org, sha=sha(1)).created_at
    deploy(org, "1.0", seen + timedelta(hours=2))

    lead = metrics(org, since=seen - timedelta(days=1), until=seen + timedelta(days=1))["lead_time"]

    assert lead["commits"] == 1
    assert lead["median_seconds"] == 2 * HOUR


def test_lead_times_at_or_below_zero_are_left_out(org):
    # Commit 1 is dated after the deployment (clock skew), commit 2 exactly at it.
    release(org, "1.0", {1: at(1, 5), 2: at(1, 4), 3: at(1, 2)})
    deploy(org, "1.0", at(1, 4))

    lead = metrics(org)["lead_time"]

    assert lead["commits"] == 1
    assert lead["median_seconds"] == lead["p90_seconds"] == 2 * HOUR


def test_a_deployment_without_a_release_counts_its_own_commit(org):
    commits_upsert(organization=org, commits=[CommitInput(sha=sha(7), timestamp=at(2))])
    deployment_record(organization=org, environment="production", commit_sha=sha(7), finished_at=at(2, 3))
    # The same sha again is not a new change.
    deployment_record(organization=org, environment="production", commit_sha=sha(7), finished_at=at(3))

    result = metrics(org)

    assert result["deployment_frequency"]["count"] == 2
    assert result["lead_time"]["commits"] == 1
    assert result["lead_time"]["median_seconds"] == 3 * HOUR


def test_a_bare_sha_deployed_before_the_window_is_not_counted_again_through_a_release(org):
    commits_upsert(organization=org, commits=[CommitInput(sha=sha(7), timestamp=at(-3))])
    deployment_record(organization=org, environment="production", commit_sha=sha(7), finished_at=at(-2))
    release(org, "1.0", {7: at(-3), 8: at(1)})
    deploy(org, "1.0", at(1, 1))

    lead = metrics(org)["lead_time"]

    assert lead["commits"] == 1
    assert lead["median_seconds"] == HOUR


def test_a_window_without_commits_has_no_lead_time(org):
    release(org, "1.0", {1: at(0)})
    deploy(org, "1.0", at(0, 1))
    deploy(org, "1.0", at(5))  # redeploying what is live carries no new commit

    lead = metrics(org, since=at(2))["lead_time"]

    assert lead == lead | {"median_seconds": None, "p90_seconds": None, "commits": 0, "band": None}


# Change failure rate and recovery time ------------------------------------------------------


def test_a_failure_then_a_recovery(org):
    release(org, "1.0", {1: at(0)})
    deploy(org, "1.0", at(1, 10), status="failure")
    deploy(org, "1.0", at(1, 10, 45))

    result = metrics(org)

    assert result["change_failure_rate"]["failed"] == 1
    assert result["change_failure_rate"]["total"] == 2
    assert result["change_failure_rate"]["rate"] == 0.5
    recovery = result["recovery_time"]
    assert (recovery["median_seconds"], recovery["recovered"], recovery["unrecovered"]) == (2700.0, 1, 0)
    assert recovery["band"] == "elite"


def test_a_hotfix_makes_the_deployment_before_it_a_failed_change(org):
    release(org, "1.0", {1: at(0)})
    deploy(org, "1.0", at(1, 10))
    release(org, "1.0.1", {2: at(1, 11)})
    hotfix = deploy(org, "1.0.1", at(1, 13), is_hotfix=True)

    result = metrics(org)

    assert hotfix.is_hotfix
    assert (result["change_failure_rate"]["failed"], result["change_failure_rate"]["total"]) == (1, 2)
    assert result["recovery_time"]["median_seconds"] == 3 * HOUR
    assert (result["rework_rate"]["rework"], result["rework_rate"]["total"]) == (1, 2)


def test_a_hotfix_after_a_failed_deployment_marks_the_last_successful_one(org):
    # 1.0 is live; 1.1 fails to deploy; the hotfix repairs what is live, which is 1.0.
    release(org, "1.0", {1: at(0)})
    deploy(org, "1.0", at(1, 8))
    release(org, "1.1", {2: at(1)})
    deploy(org, "1.1", at(1, 9), status="failure")
    release(org, "1.1.1", {3: at(1, 9)})
    deploy(org, "1.1.1", at(1, 10), is_hotfix=True)

    result = metrics(org)

    assert (result["change_failure_rate"]["failed"], result["change_failure_rate"]["total"]) == (2, 3)
    # 1.0 recovered by the hotfix after 2 hours, the failed 1.1 after 1 hour.
    assert result["recovery_time"]["median_seconds"] == 1.5 * HOUR


def test_a_deployment_remediated_twice_is_one_failed_change(org):
    release(org, "1.0", {1: at(0)})
    deploy(org, "1.0", at(1, 8))
    release(org, "1.0.1", {2: at(1, 8)})
    deploy(org, "1.0.1", at(1, 9), is_hotfix=True, status="failure")
    deploy(org, "1.0.1", at(1, 10), is_hotfix=True, tags=["is_failure"])

    cfr = metrics(org)["change_failure_rate"]

    # 1.0 (before both hotfixes) once, the failed hotfix, and the retry tagged is_failure.
    assert (cfr["failed"], cfr["total"]) == (3, 3)


def test_a_deployment_tagged_is_failure_is_a_failed_change(org):
    release(org, "1.0", {1: at(0)})
    deployment = deploy(org, "1.0", at(1), tags="is_failure,is_forced")
    release(org, "1.1", {2: at(1)})
    deploy(org, "1.1", at(1, 2))

    result = metrics(org)

    assert deployment.status == "success" and deployment.is_forced
    assert (result["change_failure_rate"]["failed"], result["change_failure_rate"]["total"]) == (1, 2)
    assert result["recovery_time"]["median_seconds"] == 2 * HOUR
    # Still a successful deployment for the frequency.
    assert result["deployment_frequency"]["count"] == 2


def test_a_rollback_is_detected_automatically_and_fails_the_deployment_it_replaces(org):
    release(org, "1.0", {1: at(0)})
    deploy(org, "1.0", at(1, 8))
    release(org, "1.1", {2: at(1, 9)})
    replaced = deploy(org, "1.1", at(1, 10))
    # Deploying 1.1 again (what is live) is not a rollback; putting 1.0 back is.
    redeploy = deploy(org, "1.1", at(1, 11))
    rollback = deploy(org, "1.0", at(1, 14))

    result = metrics(org)

    assert not replaced.is_rollback and not redeploy.is_rollback
    assert rollback.is_rollback
    # The redeploy is the last success before the rollback: the failed change, recovered in 3 h.
    cfr = result["change_failure_rate"]
    assert (cfr["failed"], cfr["total"]) == (1, 4)
    assert result["recovery_time"]["median_seconds"] == 3 * HOUR


def test_a_rollback_reported_by_status_change_is_detected_too(org):
    release(org, "1.0", {1: at(0)})
    deploy(org, "1.0", at(1, 8))
    release(org, "1.1", {2: at(1, 9)})
    deploy(org, "1.1", at(1, 10))
    pending = deploy(org, "1.0", None, status="in_progress", started_at=at(1, 11))

    done = deployment_update(organization=org, deployment=pending, status="success", at=at(1, 12))

    assert done.is_rollback
    assert metrics(org)["change_failure_rate"]["failed"] == 1


def test_recovery_skips_deployments_that_are_failed_changes_themselves(org):
    release(org, "1.0", {1: at(0)})
    deploy(org, "1.0", at(1, 8), status="failure")
    deploy(org, "1.0", at(1, 9))  # followed by a hotfix: a failed change, not a recovery
    release(org, "1.0.1", {2: at(1, 9)})
    deploy(org, "1.0.1", at(1, 12), is_hotfix=True)

    recovery = metrics(org)["recovery_time"]

    # The failure recovers at the hotfix (4 h), the 9:00 deployment too (3 h).
    assert (recovery["recovered"], recovery["unrecovered"]) == (2, 0)
    assert recovery["median_seconds"] == 3.5 * HOUR


def test_an_unrecovered_failure_is_counted_apart(org):
    release(org, "1.0", {1: at(0)})
    deploy(org, "1.0", at(2), status="failure")
    deploy(org, "1.0", at(3), environment="staging")  # another environment does not recover it

    result = metrics(org)

    assert (result["change_failure_rate"]["failed"], result["change_failure_rate"]["total"]) == (1, 1)
    assert result["recovery_time"] | {"series": None} == {
        "median_seconds": None,
        "recovered": 0,
        "unrecovered": 1,
        "band": None,
        "series": None,
    }


def test_a_recovery_after_the_window_still_measures_a_failure_inside_it(org):
    release(org, "1.0", {1: at(0)})
    deploy(org, "1.0", at(13, 22), status="failure")
    deploy(org, "1.0", at(14, 1))  # after `until`

    result = metrics(org)

    assert result["recovery_time"]["median_seconds"] == 3 * HOUR
    assert result["deployment_frequency"]["count"] == 0


def test_a_hotfix_after_the_window_fails_the_deployment_inside_it(org):
    release(org, "1.0", {1: at(0)})
    deploy(org, "1.0", at(13, 20))
    release(org, "1.0.1", {2: at(13, 21)})
    deploy(org, "1.0.1", at(14, 2), is_hotfix=True)

    assert metrics(org)["change_failure_rate"]["failed"] == 1


def test_projects_are_remediated_and_recovered_separately(org):
    release(org, "api-1", {1: at(0)}, project="api")
    release(org, "web-1", {2: at(0)}, project="web")
    deploy(org, "api-1", at(1, 8), status="failure")
    deploy(org, "web-1", at(1, 9))  # another project: does not recover api
    release(org, "web-1.0.1", {3: at(1, 9)}, project="web")
    deploy(org, "web-1.0.1", at(1, 10), is_hotfix=True)  # fails web-1, not api
    deploy(org, "api-1", at(1, 12))

    result = metrics(org)

    assert (result["change_failure_rate"]["failed"], result["change_failure_rate"]["total"]) == (2, 4)
    # api: 8:00 -> 12:00; web: 9:00 -> 10:00.
    assert result["recovery_time"]["median_seconds"] == 2.5 * HOUR


# Rework rate --------------------------------------------------------------------------------


def test_rework_counts_successful_fixes_and_hotfixes(org):
    release(org, "1.0", {1: at(0)})
    deploy(org, "1.0", at(1))
    deploy(org, "1.0", at(2), is_fix=True)
    deploy(org, "1.0", at(3), tags=["is_hotfix"])
    deploy(org, "1.0", at(4), is_fix=True, status="failure")  # not successful: not counted
    deploy(org, "1.0", at(5))

    rework = metrics(org)["rework_rate"]

    assert (rework["rework"], rework["total"], rework["rate"]) == (2, 4, 0.5)


# Environments and filters -------------------------------------------------------------------


def test_non_production_environments_are_ignored(org):
    release(org, "1.0", {1: at(0)})
    deploy(org, "1.0", at(1), environment="staging")
    deploy(org, "1.0", at(2), environment="staging", status="failure")

    result = metrics(org)

    assert result["deployment_frequency"]["count"] == 0
    assert result["change_failure_rate"]["rate"] is None
    assert result["lead_time"]["commits"] == 0


def test_every_production_environment_counts_by_default(org):
    release(org, "1.0", {1: at(0)})
    deploy(org, "1.0", at(1), environment="prod")
    deploy(org, "1.0", at(2), environment="production")
    deploy(org, "1.0", at(3), environment="eu-live")
    # An environment flagged production later counts, with its history.
    eu = deploy(org, "1.0", at(4), environment="eu-live").environment
    environment_update(organization=org, environment=eu, is_production=True)

    result = metrics(org)

    assert result["deployment_frequency"]["count"] == 4
    # The commit's first production deployment is the one to "prod" (1 day).
    assert result["lead_time"]["median_seconds"] == DAY


def test_an_environment_filter_counts_the_named_environment_even_when_not_production(org):
    release(org, "1.0", {1: at(0)})
    deploy(org, "1.0", at(0, 2), environment="staging")
    deploy(org, "1.0", at(1), environment="production", status="failure")
    deploy(org, "1.0", at(2), environment="production")

    staging = metrics(org, environment="staging")
    production = metrics(org, environment="production")

    assert staging["environment"] == "staging"
    assert staging["deployment_frequency"]["count"] == 1
    assert staging["lead_time"]["median_seconds"] == 2 * HOUR
    assert staging["change_failure_rate"]["rate"] == 0.0
    assert production["change_failure_rate"]["rate"] == 0.5
    assert production["lead_time"]["median_seconds"] == 2 * DAY


def test_a_project_filter_counts_only_that_projects_deployments(org):
    release(org, "api-1", {1: at(0), 3: at(0)}, project="api")
    release(org, "web-1", {2: at(0), 3: at(0)}, project="web")
    deploy(org, "api-1", at(1))
    deploy(org, "web-1", at(2), status="failure")
    deploy(org, "web-1", at(3))

    api = metrics(org, project="api")
    web = metrics(org, project="web")
    everything = metrics(org)

    assert api["project"] == "api"
    assert (api["deployment_frequency"]["count"], api["change_failure_rate"]["failed"]) == (1, 0)
    assert (web["deployment_frequency"]["count"], web["change_failure_rate"]["failed"]) == (1, 1)
    # Commit 3 ships in both: within "web" its first deployment is web's (3 days); across all
    # projects it counts once, at api's deployment (1 day).
    assert web["lead_time"]["median_seconds"] == 3 * DAY and web["lead_time"]["commits"] == 2
    assert everything["lead_time"]["commits"] == 3
    assert everything["lead_time"]["median_seconds"] == DAY


def test_unknown_project_or_environment_names_are_refused(org, other_org):
    release(other_org, "1.0", {1: at(0)}, project="secret")
    deploy(other_org, "1.0", at(1), environment="moon")

    with pytest.raises(DomainError) as project_error:
        metrics(org, project="secret")
    with pytest.raises(DomainError) as environment_error:
        metrics(org, environment="moon")

    assert project_error.value.field == "project"
    assert environment_error.value.field == "environment"


# Empty windows, window edges, buckets -------------------------------------------------------


def test_an_empty_window_gives_nulls_and_a_frequency_of_zero(org):
    result = metrics(org)

    assert totals(result) == {
        "deployment_frequency": {"count": 0, "per_day": 0.0, "band": "low"},
        "lead_time": {"median_seconds": None, "p90_seconds": None, "commits": 0, "band": None},
        "change_failure_rate": {"failed": 0, "total": 0, "rate": None, "band": None},
        "recovery_time": {"median_seconds": None, "recovered": 0, "unrecovered": 0, "band": None},
        "rework_rate": {"rework": 0, "total": 0, "rate": None},
        "incidents": {"unattributed": 0},
    }
    assert [b["count"] for b in result["deployment_frequency"]["series"]] == [0, 0]
    assert result["lead_time"]["series"][0]["median_seconds"] is None
    assert result["change_failure_rate"]["series"][0]["rate"] is None


def test_since_is_inclusive_and_until_is_exclusive(org):
    release(org, "1.0", {1: at(-1)})
    deploy(org, "1.0", SINCE)
    release(org, "1.1", {2: at(13)})
    deploy(org, "1.1", UNTIL)
    deploy(org, "1.1", UNTIL - timedelta(milliseconds=2), environment="prod")

    result = metrics(org)

    assert result["deployment_frequency"]["count"] == 2
    assert result["lead_time"]["commits"] == 2
    assert result["lead_time"]["median_seconds"] == 86399.999  # (1 day + 1 day - 2 ms) / 2


def test_day_buckets_are_utc_days_and_week_buckets_start_on_monday(org):
    since = datetime(2024, 3, 6, 12, tzinfo=UTC)  # a Wednesday noon
    until = datetime(2024, 3, 12, tzinfo=UTC)
    release(org, "1.0", {1: at(0)})
    deploy(org, "1.0", datetime(2024, 3, 7, tzinfo=UTC))  # exactly on a day boundary
    deploy(org, "1.0", datetime(2024, 3, 11, 23, 59, tzinfo=UTC))

    days = metrics(org, since=since, until=until, bucket="day")["deployment_frequency"]["series"]
    weeks = metrics(org, since=since, until=until, bucket="week")["deployment_frequency"]["series"]

    assert [b["start"] for b in days] == [f"2024-03-{d:02d}T00:00:00Z" for d in range(6, 12)]
    assert [b["count"] for b in days] == [0, 1, 0, 0, 0, 1]
    assert weeks == [
        {"start": "2024-03-04T00:00:00Z", "count": 1},
        {"start": "2024-03-11T00:00:00Z", "count": 1},
    ]


def test_previous_window_is_the_same_length_just_before():
    assert previous_window(SINCE, UNTIL) == (SINCE - timedelta(days=14), SINCE)


@pytest.mark.parametrize(
    ("since", "until", "field"),
    [
        (UNTIL, SINCE, "since"),
        (SINCE, SINCE, "since"),
        (UNTIL - timedelta(days=367), UNTIL, "until"),
        (datetime(2024, 3, 4), UNTIL, "since"),  # naive: no timezone
    ],
)
def test_a_bad_window_is_refused_naming_the_parameter(org, since, until, field):
    with pytest.raises(DomainError) as error:
        metrics(org, since=since, until=until)
    assert error.value.field == field


def test_the_default_window_is_the_last_30_days(org):
    result = dora_metrics(organization=org, since=None, until=None)

    since = datetime.fromisoformat(result["since"].replace("Z", "+00:00"))
    until = datetime.fromisoformat(result["until"].replace("Z", "+00:00"))
    assert until - since == timedelta(days=30)
    assert abs(until - datetime.now(UTC)) < timedelta(minutes=1)


def test_the_number_of_queries_does_not_grow_with_the_data(org, django_assert_max_num_queries):
    build_worked_example(org)
    # environments, project, the deployments' metrics, lead time's counts and its values
    with django_assert_max_num_queries(5):
        metrics(org, project="api")


# Bands --------------------------------------------------------------------------------------


def test_exactly_five_percent_failures_is_elite(org):
    release(org, "1.0", {1: at(0)})
    for hour in range(19):
        deploy(org, "1.0", at(1, hour))
    deploy(org, "1.0", at(1, 19), status="failure")
    deploy(org, "1.0", at(1, 20), environment="staging")  # recovery must be in production
    deploy(org, "1.0", at(1, 21))

    cfr = metrics(org, until=at(1, 21))["change_failure_rate"]

    assert (cfr["failed"], cfr["total"], cfr["rate"], cfr["band"]) == (1, 20, 0.05, "elite")


def test_a_recovery_of_exactly_one_hour_is_high_not_elite(org):
    release(org, "1.0", {1: at(0)})
    deploy(org, "1.0", at(1, 8), status="failure")
    deploy(org, "1.0", at(1, 9))
    deploy(org, "1.0", at(2, 8), status="failure")
    deploy(org, "1.0", at(2, 8, 59))

    exactly = metrics(org, until=at(2))["recovery_time"]
    under = metrics(org, since=at(2))["recovery_time"]

    assert (exactly["median_seconds"], exactly["band"]) == (HOUR, "high")
    assert (under["median_seconds"], under["band"]) == (59 * 60.0, "elite")


def test_a_lead_time_of_exactly_one_day_is_high_not_elite(org):
    release(org, "1.0", {1: at(0, 6)})
    deploy(org, "1.0", at(1, 6))

    lead = metrics(org)["lead_time"]

    assert (lead["median_seconds"], lead["band"]) == (DAY, "high")


def test_one_deployment_a_day_is_elite(org):
    release(org, "1.0", {1: at(0)})
    for day in range(14):
        deploy(org, "1.0", at(day, 12))

    frequency = metrics(org)["deployment_frequency"]

    assert (frequency["count"], frequency["per_day"], frequency["band"]) == (14, 1.0, "elite")


def test_band_thresholds_follow_the_dora_2023_table():
    two_weeks = timedelta(days=14)
    assert [frequency_band(n, two_weeks) for n in (14, 13, 2, 1, 0)] == ["elite", "high", "high", "medium", "low"]
    assert frequency_band(1, timedelta(days=30)) == "medium"
    assert frequency_band(1, timedelta(days=30, seconds=1)) == "low"
    assert [lead_time_band(s) for s in (DAY - 1, DAY, 7 * DAY - 1, 7 * DAY, 30 * DAY - 1, 30 * DAY, None)] == [
        "elite",
        "high",
        "high",
        "medium",
        "medium",
        "low",
        None,
    ]
    assert [failure_rate_band(f, 20) for f in (0, 1, 2, 3, 4)] == ["elite", "elite", "high", "medium", "low"]
    assert failure_rate_band(0, 0) is None
    assert [recovery_band(s) for s in (HOUR - 1, HOUR, DAY - 1, DAY, 7 * DAY - 1, 7 * DAY, None)] == [
        "elite",
        "high",
        "high",
        "medium",
        "medium",
        "low",
        None,
    ]
