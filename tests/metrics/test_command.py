"""``manage.py dora``: the worked example's numbers as a table, and its errors."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from incidents.services import incident_create, incident_settings_update
from tests.metrics.scenario import at, build_worked_example, deploy, release

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("dora", *args, stdout=out)
    return out.getvalue()


def row(output: str, metric: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(metric))


def test_it_prints_the_worked_example_as_a_table(org, other_org):
    build_worked_example(org, other_org)

    output = run("acme", "--since", "2024-03-04T00:00:00Z", "--until", "2024-03-18")

    assert output.splitlines()[0] == (
        "DORA metrics for acme, 2024-03-04T00:00:00Z to 2024-03-18T00:00:00Z "
        "(all production environments, all projects)"
    )
    assert row(output, "deployment frequency").split() == [
        "deployment", "frequency", "0.5", "/", "day", "high", "7", "successful", "deployments"
    ]  # fmt: skip
    assert "7h 0m (25200 s)" in row(output, "change lead time")
    assert "elite" in row(output, "change lead time")
    assert "median of 7 commits; p90 1d 2h 48m (96480 s)" in row(output, "change lead time")
    assert "44.44 %" in row(output, "change failure rate")
    assert "4 failed of 9 finished deployments" in row(output, "change failure rate")
    assert "2h 0m (7200 s)" in row(output, "recovery time")
    assert "median of 3 recovered; 1 not yet recovered" in row(output, "recovery time")
    assert "28.57 %" in row(output, "rework rate")
    assert "2 fixes of 7 successful deployments" in row(output, "rework rate")
    assert row(output, "unattributed incidents") == (
        "unattributed incidents: 0 (started in the window, attributed to no deployment, so counted in no metric above)"
    )


def test_it_prints_the_incidents_of_the_window_attributed_to_no_deployment(org):
    build_worked_example(org)
    # The last production success is on day 9: with a 1-day attribution window, an incident on day
    # 13 blames nothing, and neither does one in staging, where nothing was deployed since day 1.
    incident_settings_update(organization=org, attribution_window=timedelta(days=1))
    for day, environment in [(13, "production"), (12, "production"), (5, "staging"), (14, "production")]:
        incident_create(organization=org, title=f"day {day}", started_at=at(day, 12), environment=environment)

    output = run("acme", "--since", "2024-03-04", "--until", "2024-03-18")
    staging = run("acme", "--since", "2024-03-04", "--until", "2024-03-18", "--environment", "staging")

    # Day 14 is after the window (until is exclusive).
    assert row(output, "unattributed incidents").startswith("unattributed incidents: 2 (")
    assert row(staging, "unattributed incidents").startswith("unattributed incidents: 1 (")


def test_it_prints_the_weekly_series_on_request(org):
    build_worked_example(org)

    output = run("acme", "--since", "2024-03-04", "--until", "2024-03-18", "--bucket", "week")

    first, second = row(output, "2024-03-04T00:00:00Z"), row(output, "2024-03-11T00:00:00Z")
    assert " ".join(first.split()) == "2024-03-04T00:00:00Z 4 7h 0m (25200 s) 2 / 5 1h 45m (6300 s)"
    assert " ".join(second.split()) == "2024-03-11T00:00:00Z 3 13h 30m (48600 s) 2 / 4 2h 0m (7200 s)"


def test_it_applies_the_project_and_environment_filters(org):
    release(org, "web-1", {1: at(0)}, project="web")
    deploy(org, "web-1", at(1), environment="staging")

    output = run(
        "acme", "--since", "2024-03-04", "--until", "2024-03-18", "--project", "web", "--environment", "staging"
    )

    assert "(environment staging, project web)" in output.splitlines()[0]
    assert "1 successful deployments" in row(output, "deployment frequency")
    assert "1d 0h 0m (86400 s)" in row(output, "change lead time")


def test_an_empty_window_prints_dashes_not_zeros(org):
    output = run("acme", "--since", "2024-03-04", "--until", "2024-03-18")

    assert row(output, "change lead time").split()[3:5] == ["-", "-"]
    assert row(output, "change failure rate").split()[3] == "-"
    assert "0 / day  low" in row(output, "deployment frequency")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "no organization with slug 'nope'"),
        (["acme", "--since", "yesterday"], "--since: must be an ISO 8601 date-time"),
        (["acme", "--since", "2024-03-04T00:00:00"], "--since: must carry a timezone"),
        (["acme", "--since", "2024-03-18", "--until", "2024-03-04"], "--since: must be before until"),
        (["acme", "--project", "nope"], "--project: no project named 'nope'"),
    ],
)
def test_bad_arguments_fail_with_a_message(org, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
