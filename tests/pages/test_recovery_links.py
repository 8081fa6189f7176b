"""Failure to recovery on the pages: each failed change links to what restored it, with the time to
restore; automatic rollbacks say so; the metrics' tiles and bars link to the deployments behind them."""

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from deployments.models import Deployment
from tests.metrics.scenario import build_worked_example
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
