from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.models import DeploymentStatus
from metrics.views import build_chart, window_bounds
from tests.pages.conftest import deploy, make_release

pytestmark = pytest.mark.django_db


@pytest.fixture
def recent(org):
    """Within the last 30 days: four production deployments, one failure recovered 2 hours later."""
    now = timezone.now().replace(microsecond=0)
    base = now - timedelta(days=10)
    for i, status in enumerate(["success", "failure", "success", "success"]):
        at = base + timedelta(hours=2 * i)
        release = make_release(org, f"8.{i}.0", at=at - timedelta(hours=1))
        deploy(org, release, "production", at=at, status=status)
        deploy(org, release, "staging", at=at - timedelta(minutes=30))
    return base


def tile(response, key):
    return next(t for t in response.context["tiles"] if t.key == key)


def test_metrics_page_shows_five_tiles_with_values_and_bands(alice_client, recent):
    response = alice_client.get("/orgs/acme/metrics/")
    assert response.status_code == 200
    assert [t.key for t in response.context["tiles"]] == [
        "deployment_frequency",
        "lead_time",
        "change_failure_rate",
        "recovery_time",
        "rework_rate",
    ]
    assert tile(response, "deployment_frequency").detail == "3 successful production deployments"
    failure = tile(response, "change_failure_rate")
    assert failure.value == "25.0 %" and failure.band == "low"
    assert tile(response, "recovery_time").value == "2 h"
    assert tile(response, "rework_rate").band is None
    body = response.content.decode()
    assert body.count('class="tile"') == 5
    assert "Elite" in body or "High" in body or "Medium" in body or "Low" in body


def test_metrics_page_compares_with_the_previous_window(alice_client, recent):
    response = alice_client.get("/orgs/acme/metrics/")
    frequency = tile(response, "deployment_frequency")
    # Nothing in the 30 days before: more deployments is better.
    assert frequency.trend == "better" and frequency.change.startswith("▲")
    # No failure to compare with before: the tile says so instead of inventing a change.
    assert tile(response, "recovery_time").change == "no earlier data to compare"


def test_metrics_page_draws_four_svg_charts_without_external_loads(alice_client, recent):
    body = alice_client.get("/orgs/acme/metrics/").content.decode()
    assert body.count("<svg") == 4
    assert body.count('class="chart__bar chart__bar--deployments"') >= 1
    assert "http://" not in body.replace("http://testserver", "") and "https://" not in body
    assert "style=" not in body and "<style" not in body and "<script>" not in body


def test_metrics_filters_by_window_project_and_environment(alice_client, recent):
    staging = alice_client.get("/orgs/acme/metrics/?environment=staging&days=7")
    assert staging.status_code == 200
    assert staging.context["days"] == 7
    # The deployments were 10 days ago: nothing in the last 7.
    assert tile(staging, "deployment_frequency").detail == "0 successful deployments to staging"
    staging30 = alice_client.get("/orgs/acme/metrics/?environment=staging&days=30")
    assert tile(staging30, "deployment_frequency").detail == "4 successful deployments to staging"
    body = staging30.content.decode()
    assert "deployments to staging" in body and "production deployments" not in body
    assert alice_client.get("/orgs/acme/metrics/?project=api").status_code == 200
    assert alice_client.get("/orgs/acme/metrics/?days=11").status_code == 400


def test_an_empty_organization_shows_dashes_not_zeros(alice_client, org):
    response = alice_client.get("/orgs/acme/metrics/")
    assert response.status_code == 200
    assert tile(response, "lead_time").value == "—"
    assert tile(response, "change_failure_rate").value == "—"
    assert "No data in this window." in response.content.decode()


@pytest.mark.parametrize("releases", [2, 30])
def test_metrics_query_count_does_not_grow_with_rows(alice_client, org, django_assert_max_num_queries, releases):
    now = timezone.now().replace(microsecond=0)
    for i in range(releases):
        release = make_release(org, f"9.{i}.0", at=now - timedelta(days=1, hours=i))
        deploy(org, release, "production", at=now - timedelta(hours=i), status=DeploymentStatus.SUCCESS)
    with django_assert_max_num_queries(12):
        alice_client.get("/orgs/acme/metrics/")


def test_metrics_of_another_organization_are_404(charlie_client, org):
    assert charlie_client.get("/orgs/acme/metrics/").status_code == 404


def test_the_window_is_whole_utc_days_ending_today():
    from datetime import UTC, datetime

    since, until = window_bounds(30, now=datetime(2026, 5, 10, 15, 30, tzinfo=UTC))
    assert until == datetime(2026, 5, 11, tzinfo=UTC)
    assert since == datetime(2026, 4, 11, tzinfo=UTC)


def test_a_chart_scales_bars_to_a_round_maximum_and_marks_missing_weeks():
    chart = build_chart(
        "lead_time",
        "Lead",
        [
            {"start": "2026-05-04T00:00:00Z", "median_seconds": 3600.0},
            {"start": "2026-05-11T00:00:00Z", "median_seconds": None},
            {"start": "2026-05-18T00:00:00Z", "median_seconds": 7200.0},
        ],
        "median_seconds",
        "duration",
    )
    assert [g["label"] for g in chart.gridlines] == ["0", "1", "2"]
    assert chart.bars[1].empty and not chart.bars[0].empty
    assert chart.bars[2].height == chart.plot_bottom - 12  # the tallest bar reaches the top
    assert chart.bars[0].label == "week of May 4: 1 h"


def test_without_a_query_the_window_box_shows_the_window_the_figures_cover(alice_client, recent):
    response = alice_client.get("/orgs/acme/metrics/")
    assert response.context["days"] == 30
    assert '<option value="30" selected>Last 30 days</option>' in response.content.decode()


def test_a_frequency_change_is_in_the_unit_of_its_value(alice_client, org):
    now = timezone.now().replace(microsecond=0)
    # 1.5 a day in the last 30 days, 1.0 a day in the 30 before: the value and its change both per day.
    moments = [now - timedelta(hours=1 + 15 * i) for i in range(45)]
    moments += [now - timedelta(days=31, hours=22 * i) for i in range(30)]
    for i, at in enumerate(moments):
        deploy(org, make_release(org, f"5.{i}.0", at=at - timedelta(hours=1)), "production", at=at)
    frequency = tile(alice_client.get("/orgs/acme/metrics/"), "deployment_frequency")
    assert frequency.value == "1.5 / day"
    assert frequency.change == "▲ 0.5 / day vs the previous window"


def test_windows_up_to_a_month_draw_a_bar_per_day_and_longer_ones_per_week(alice_client, recent):
    month = alice_client.get("/orgs/acme/metrics/?days=30")
    bars = month.context["charts"][0].bars
    assert len(bars) in (30, 31) and month.context["charts"][0].title == "Deployments per day"
    assert "Per day" in month.content.decode()
    quarter = alice_client.get("/orgs/acme/metrics/?days=90")
    assert 13 <= len(quarter.context["charts"][0].bars) <= 15
    assert quarter.context["charts"][0].bars[0].label.startswith("week of ")


@pytest.mark.parametrize("path", ["/orgs/acme/metrics/", "/orgs/acme/releases/", "/orgs/acme/deployments/"])
def test_a_nul_character_in_a_filter_is_named_in_a_clear_error(alice_client, recent, path):
    response = alice_client.get(f"{path}?environment=%00")
    assert response.status_code == 400
    body = response.content.decode()
    assert "NUL character" in body and "is not one of" not in body
