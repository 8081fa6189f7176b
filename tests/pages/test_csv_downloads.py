"""The pages' "Download CSV" links: the rows the page's filters select, for members only."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.pages.conftest import deploy, make_release

pytestmark = pytest.mark.django_db


def rows(response) -> list[dict]:
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()[1:])))


@pytest.fixture
def shipped(org, other_org):
    now = timezone.now().replace(microsecond=0)
    first = make_release(org, "1.0.0", at=now - timedelta(days=2))
    second = make_release(org, "1.1.0", at=now - timedelta(days=1), projects=("web",))
    deploy(org, first, "staging", at=now - timedelta(days=2, hours=-1))
    deploy(org, first, "production", at=now - timedelta(days=2, hours=-2))
    deploy(org, second, "production", at=now - timedelta(hours=20), status="failure")
    deploy(other_org, make_release(other_org, "globexsecret", at=now), "production", at=now)


def test_every_list_page_links_its_csv_with_the_filters_shown(alice_client, shipped):
    body = alice_client.get("/orgs/acme/deployments/?environment=production&page=1").content.decode()
    assert 'href="?environment=production&amp;format=csv"' in body
    assert 'href="?format=csv"' in alice_client.get("/orgs/acme/releases/").content.decode()
    assert 'href="?days=30&amp;format=csv"' in alice_client.get("/orgs/acme/metrics/?days=30").content.decode()


def test_the_deployments_download_has_the_filtered_rows_of_the_organization(alice_client, shipped):
    production = rows(alice_client.get("/orgs/acme/deployments/?environment=production&format=csv"))
    assert [(r["release"], r["status"]) for r in production] == [("1.1.0", "failure"), ("1.0.0", "success")]
    everything = rows(alice_client.get("/orgs/acme/deployments/?format=csv"))
    assert len(everything) == 3 and "globexsecret" not in str(everything)


def test_the_timeline_download_follows_its_filters(alice_client, shipped):
    web = rows(alice_client.get("/orgs/acme/releases/?project=web&format=csv"))
    assert [r["version"] for r in web] == ["1.1.0"] and web[0]["projects"] == "web"


def test_the_metrics_download_is_the_series_of_the_window_shown(alice_client, shipped):
    series = rows(alice_client.get("/orgs/acme/metrics/?days=7&format=csv"))
    assert len(series) == 7  # a row per day
    assert sum(int(r["deployments"]) for r in series) == 1
    assert (
        sum(int(r["failed_changes"]) for r in series) == 1 and sum(int(r["finished_deployments"]) for r in series) == 2
    )


def test_downloads_are_for_members_only(charlie_client, client, shipped):
    assert charlie_client.get("/orgs/acme/deployments/?format=csv").status_code == 404
    assert client.get("/orgs/acme/deployments/?format=csv").status_code == 302  # to sign-in
