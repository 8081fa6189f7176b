"""Failure to recovery on the pages: each failed change links to what restored it, with the time to
restore; automatic rollbacks say so; the metrics' tiles and bars link to the deployments behind them."""

import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from deployments.models import Deployment
from incidents.services import incident_create
from metrics.views import window_bounds
from tests.metrics.scenario import build_worked_example
from tests.pages.conftest import deploy, make_release
from tests.pages.test_metrics_page import recent  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

WINDOW = "since=2024-03-04&until=2024-03-17"


def text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def row_of(body: str, deployment: Deployment) -> str:
    return re.search(rf'id="deployment-{deployment.public_id}">(.*?)</(?:tr|li)>', body, re.S).group(1)


@pytest.fixture
def example(org, other_org):
    build_worked_example(org, other_org)
    production = Deployment.objects.filter(organization=org, environment__name="production").select_related("release")
    return {(d.release.version, d.status, d.is_rollback): d for d in production}


def test_the_deployments_view_links_each_failed_change_to_what_restored_it(alice_client, example):
    body = alice_client.get(f"/orgs/acme/deployments/?environment=production&{WINDOW}").content.decode()

    shipped = example[("1.3.0", "success", False)]
    rollback = example[("1.2.1", "success", True)]
    row = row_of(body, shipped)
    assert "✕ failed change · restored by automatic rollback of 1.2.1 after 2 h" in text(row)
    href = unescape(re.search(r'<a href="([^"]+)">automatic rollback', row).group(1))
    assert href == f"/orgs/acme/releases/{rollback.release.public_id}/#deployment-{rollback.public_id}"
    assert "AUTOMATIC ROLLBACK" in text(row_of(body, rollback)).upper()
    assert "restored by deployment of 1.1.0 after 1 h" in text(row_of(body, example[("1.1.0", "failure", False)]))
    assert "✕ failed change · not restored yet" in text(row_of(body, example[("1.4.0", "failure", False)]))
    assert "failed change" not in text(row_of(body, rollback))


def test_the_release_page_shows_the_restoring_deployment_and_it_is_there_to_link_to(alice_client, example):
    failed = example[("1.2.0", "success", False)]
    hotfix = example[("1.2.1", "success", False)]
    body = alice_client.get("/orgs/acme/releases/1.2.0/").content.decode()

    assert "✕ failed change · restored by hotfix of 1.2.1 after 2 h 30 min" in text(row_of(body, failed))
    target = alice_client.get("/orgs/acme/releases/1.2.1/").content.decode()
    assert f'id="deployment-{hotfix.public_id}"' in target


def test_the_failed_change_filter_lists_the_failed_changes_of_the_window(alice_client, example):
    response = alice_client.get(f"/orgs/acme/deployments/?failed_change=1&is_production=1&{WINDOW}")

    assert response.status_code == 200
    assert [d.release.version for d in response.context["page"].object_list] == ["1.4.0", "1.3.0", "1.2.0", "1.1.0"]


def test_the_rework_filter_lists_the_successful_fixes_and_hotfixes(alice_client, example):
    response = alice_client.get(f"/orgs/acme/deployments/?rework=1&{WINDOW}")

    assert [d.release.version for d in response.context["page"].object_list] == ["1.3.2", "1.2.1"]


@pytest.mark.parametrize("query", ["failed_change=yes", "is_production=true", "failed_change=%00", "rework=2"])
def test_a_bad_value_of_the_new_filters_is_a_400(alice_client, example, query):
    assert alice_client.get(f"/orgs/acme/deployments/?{query}").status_code == 400


def test_each_metrics_tile_links_to_the_deployments_behind_its_number(alice_client, recent):  # noqa: F811
    response = alice_client.get("/orgs/acme/metrics/")
    tiles = {tile.key: tile for tile in response.context["tiles"]}
    body = response.content.decode()

    for tile in tiles.values():
        assert f'href="{tile.href.replace("&", "&amp;")}"' in body
    frequency = alice_client.get(tiles["deployment_frequency"].href)
    assert len(frequency.context["page"].object_list) == 3
    assert {d.environment.name for d in frequency.context["page"].object_list} == {"production"}
    failures = alice_client.get(tiles["change_failure_rate"].href)
    assert [d.status for d in failures.context["page"].object_list] == ["failure"]


def test_each_chart_bar_links_to_the_deployments_of_its_week(alice_client, recent):  # noqa: F811
    response = alice_client.get("/orgs/acme/metrics/")
    [chart] = [c for c in response.context["charts"] if c.key == "deployments"]
    bars = [bar for bar in chart.bars if not bar.empty and bar.height > 0]

    assert bars and all(bar.href for bar in bars)
    listed = 0
    for bar in bars:
        query = parse_qs(urlsplit(bar.href).query)
        assert query["status"] == ["success"] and query["is_production"] == ["1"]
        listed += len(alice_client.get(bar.href).context["page"].object_list)
    assert listed == 3
    assert 'class="chart__link"' in response.content.decode()


@pytest.fixture
def blamed(org, recent):  # noqa: F811
    """``recent`` plus an incident attributed (through its environment) to 8.2.0, a successful
    production deployment, from 1 hour after it for 3 hours."""
    shipped = Deployment.objects.get(organization=org, environment__name="production", release__version="8.2.0")
    incident_create(
        organization=org,
        title="Checkout down",
        environment="production",
        started_at=shipped.occurred_at + timedelta(hours=1),
        resolved_at=shipped.occurred_at + timedelta(hours=4),
    )
    return shipped


def test_a_deployment_blamed_for_an_incident_is_listed_behind_the_failure_tile_and_counted_there(alice_client, blamed):
    response = alice_client.get("/orgs/acme/metrics/")
    failure = next(t for t in response.context["tiles"] if t.key == "change_failure_rate")
    failed = int(re.match(r"(\d+) failed", failure.detail).group(1))

    listed = alice_client.get(failure.href).context["page"].object_list

    assert failed == 2
    assert sorted(d.release.version for d in listed) == ["8.1.0", "8.2.0"]
    assert len(listed) == failed


def test_a_deployment_blamed_for_an_incident_is_restored_when_its_incident_is(alice_client, blamed):
    body = alice_client.get("/orgs/acme/releases/8.2.0/").content.decode()

    assert "✕ failed change · restored after 3 h (its incidents" in text(row_of(body, blamed))
    listed = alice_client.get("/orgs/acme/deployments/?failed_change=1&environment=production").content.decode()
    assert "restored after 3 h (its incidents" in text(row_of(listed, blamed))


def test_a_deployment_blamed_for_an_open_incident_is_not_restored_yet(alice_client, org, recent):  # noqa: F811
    shipped = Deployment.objects.get(organization=org, environment__name="production", release__version="8.2.0")
    incident_create(organization=org, title="Checkout down", deployment=shipped, started_at=shipped.occurred_at)

    body = alice_client.get("/orgs/acme/releases/8.2.0/").content.decode()

    assert "✕ failed change · incident open" in text(row_of(body, shipped))


@pytest.fixture
def early_in_the_window_in_los_angeles(org):
    """An organization in America/Los_Angeles with one successful production deployment 2 hours after
    the metrics window's UTC start: the evening before that date in Los Angeles."""
    org.timezone = "America/Los_Angeles"
    org.save(update_fields=["timezone"])
    since, _ = window_bounds(30)
    release = make_release(org, "9.0.0", at=since)
    return deploy(org, release, "production", at=since + timedelta(hours=2), status="success")


def test_a_tile_link_lists_a_deployment_it_counts_in_an_organization_west_of_utc(
    alice_client, early_in_the_window_in_los_angeles
):
    response = alice_client.get("/orgs/acme/metrics/")
    frequency = next(t for t in response.context["tiles"] if t.key == "deployment_frequency")
    body = response.content.decode()
    tile_html = re.search(r'data-metric="deployment_frequency">(.*?)</li>', body, re.S).group(1)
    href = unescape(re.search(r'class="tile__link small"><a href="([^"]+)"', tile_html).group(1))

    assert frequency.detail == "1 successful production deployments"
    assert href == frequency.href
    listed = alice_client.get(href)
    assert [d.public_id for d in listed.context["page"].object_list] == [early_in_the_window_in_los_angeles.public_id]
    assert "dates in UTC" in text(listed.content.decode())


def test_a_daily_bar_links_to_the_deployments_of_its_utc_day_in_an_organization_west_of_utc(
    alice_client, early_in_the_window_in_los_angeles
):
    since, _ = window_bounds(30)
    response = alice_client.get("/orgs/acme/metrics/")
    [chart] = [c for c in response.context["charts"] if c.key == "deployments"]
    [bar] = [bar for bar in chart.bars if bar.height > 0]

    assert bar.start == since
    assert bar.href.replace("&", "&amp;") in response.content.decode()
    listed = alice_client.get(bar.href).context["page"].object_list
    assert [d.public_id for d in listed] == [early_in_the_window_in_los_angeles.public_id]


def test_the_deployments_view_reads_from_and_to_as_utc_days_only_when_asked(
    alice_client, early_in_the_window_in_los_angeles
):
    day = early_in_the_window_in_los_angeles.occurred_at.date().isoformat()
    in_utc = alice_client.get(f"/orgs/acme/deployments/?since={day}&until={day}&tz=UTC")
    in_los_angeles = alice_client.get(f"/orgs/acme/deployments/?since={day}&until={day}")

    assert len(in_utc.context["page"].object_list) == 1
    assert len(in_los_angeles.context["page"].object_list) == 0
    assert "dates in UTC" not in text(in_los_angeles.content.decode())
    body = in_utc.content.decode()
    # Hidden, without a label of its own, and kept by the CSV link (pagination uses the same query).
    assert '<input type="hidden" name="tz" value="UTC"' in body
    assert 'for="id_tz"' not in body
    csv = unescape(re.search(r'<a class="button" href="([^"]+)" download>Download CSV', body).group(1))
    assert "tz=UTC" in csv
    rows = b"".join(alice_client.get(f"/orgs/acme/deployments/{csv}").streaming_content).decode().splitlines()
    assert len(rows) == 2 and "9.0.0" in rows[1]


@pytest.mark.parametrize("value", ["Europe/Paris", "utc", "local"])
def test_a_time_zone_other_than_utc_in_the_deployments_filters_is_a_400(alice_client, org, value):
    response = alice_client.get(f"/orgs/acme/deployments/?since=2026-01-01&tz={value}")

    assert response.status_code == 400
    assert "Time zone:" in text(response.content.decode())
