import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from deployments.models import Deployment, DeploymentStatus
from incidents.services import incident_create
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
        deploy(org, release, "production", at=now - timedelta(hours=i + 1), status=DeploymentStatus.SUCCESS)
        # Attributed incidents, and one in a project nothing deployed: the unattributed line shows too.
        incident_create(organization=org, title=f"incident {i}", started_at=now - timedelta(hours=i, minutes=30))
    incident_create(organization=org, title="web down", project="web", started_at=now - timedelta(hours=1))
    with django_assert_max_num_queries(12):
        response = alice_client.get("/orgs/acme/metrics/")
    assert response.context["unattributed"] == 1


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


# Incidents behind the failure-rate and recovery tiles ----------------------------------------------


@pytest.fixture
def with_incidents(org, recent):
    """``recent`` plus incidents: one attributed to 8.3.0 (the last production deployment), one in
    staging, one 40 days ago, and one in production 9 days after the last deployment, past the
    7-day attribution window: unattributed."""
    now = timezone.now().replace(microsecond=0)
    last = Deployment.objects.get(organization=org, environment__name="production", release__version="8.3.0")
    made = {}
    for title, fields in {
        "Checkout down": {"started_at": last.occurred_at + timedelta(hours=1), "environment": "production"},
        "Staging queue stuck": {"started_at": last.occurred_at + timedelta(hours=1), "environment": "staging"},
        "Old outage": {"started_at": now - timedelta(days=40), "environment": "production"},
        "Late alarm": {"started_at": recent + timedelta(days=9), "environment": "production"},
    }.items():
        made[title], _ = incident_create(organization=org, title=title, **fields)
    return made


def incident_titles(client, href: str) -> list[str]:
    response = client.get(href)
    assert response.status_code == 200
    return [incident.title for incident in response.context["page"].object_list]


def test_the_failure_rate_and_recovery_tiles_link_to_the_incidents_of_the_window(alice_client, with_incidents):
    response = alice_client.get("/orgs/acme/metrics/")
    body = response.content.decode()
    since, until = window_bounds(30)

    for key in ("change_failure_rate", "recovery_time"):
        href = tile(response, key).incidents_href
        tile_html = re.search(rf'data-metric="{key}">(.*?)</li>', body, re.S).group(1)
        links = [unescape(link) for link in re.findall(r'class="tile__link small"><a href="([^"]+)"', tile_html)]
        assert links == [tile(response, key).href, href]
        assert urlsplit(href).path == "/orgs/acme/incidents/"
        assert parse_qs(urlsplit(href).query) == {
            "is_production": ["1"],
            "since": [since.date().isoformat()],
            "until": [(until - timedelta(days=1)).date().isoformat()],
            "tz": ["UTC"],
        }
        # Every status, production only, inside the window.
        assert incident_titles(alice_client, href) == ["Late alarm", "Checkout down"]
    assert not any(
        t.incidents_href for t in response.context["tiles"] if t.key not in ("change_failure_rate", "recovery_time")
    )
    assert body.count("The incidents of this window") == 3  # two tiles and the unattributed line


def test_the_incidents_links_keep_the_environment_and_project_chosen(alice_client, with_incidents):
    response = alice_client.get("/orgs/acme/metrics/?environment=staging&project=api&days=90")
    href = tile(response, "recovery_time").incidents_href

    query = parse_qs(urlsplit(href).query)
    assert query["environment"] == ["staging"] and query["project"] == ["api"] and "is_production" not in query
    # The staging incident names no project: the project filter leaves it out, as the metrics do.
    assert incident_titles(alice_client, href) == []
    everything = alice_client.get("/orgs/acme/metrics/?environment=staging&days=90")
    assert incident_titles(alice_client, tile(everything, "recovery_time").incidents_href) == ["Staging queue stuck"]


def test_an_incidents_link_lists_an_incident_early_in_the_window_in_an_organization_west_of_utc(alice_client, org):
    org.timezone = "America/Los_Angeles"
    org.save(update_fields=["timezone"])
    since, _ = window_bounds(30)
    # Two hours into the window's first UTC day: the evening before in Los Angeles.
    incident_create(organization=org, title="Early", started_at=since + timedelta(hours=2))

    response = alice_client.get("/orgs/acme/metrics/")

    assert response.context["unattributed"] == 1
    assert incident_titles(alice_client, tile(response, "change_failure_rate").incidents_href) == ["Early"]
    assert incident_titles(alice_client, response.context["unattributed_href"]) == ["Early"]


def unattributed_line(body: str) -> str | None:
    found = re.search(r'<p class="unattributed small" id="unattributed">(.*?)</p>', body, re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split()) if found else None


def test_the_page_counts_the_incidents_of_the_window_attributed_to_no_deployment(alice_client, with_incidents):
    response = alice_client.get("/orgs/acme/metrics/")
    body = response.content.decode()

    assert unattributed_line(body) == (
        "1 incident in this window could not be attributed to a deployment: it counts in neither the "
        "failure rate nor the recovery time. The incidents of this window →"
    )
    href = unescape(re.search(r'id="unattributed">.*?<a href="([^"]+)"', body, re.S).group(1))
    assert href == tile(response, "change_failure_rate").incidents_href
    assert "Late alarm" in incident_titles(alice_client, href)


def test_the_unattributed_count_follows_the_scope_and_says_they(alice_client, org, with_incidents):
    incident_create(organization=org, title="Another", started_at=timezone.now() - timedelta(hours=1))

    production = alice_client.get("/orgs/acme/metrics/").content.decode()
    staging = alice_client.get("/orgs/acme/metrics/?environment=staging").content.decode()

    assert unattributed_line(production).startswith("2 incidents in this window could not be attributed")
    assert "they count in neither" in unattributed_line(production)
    # The staging incident is attributed to 8.3.0's staging deployment: nothing to say there.
    assert unattributed_line(staging) is None


@pytest.mark.parametrize("attributed", [False, True])
def test_no_unattributed_line_when_every_incident_of_the_window_is_attributed(alice_client, org, recent, attributed):
    if attributed:
        incident_create(organization=org, title="Checkout down", started_at=recent + timedelta(hours=1))

    response = alice_client.get("/orgs/acme/metrics/")

    assert response.context["unattributed"] == 0
    assert unattributed_line(response.content.decode()) is None
    assert "could not be attributed" not in response.content.decode()
