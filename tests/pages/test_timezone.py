"""The organization's time zone: pages show times and days in it, UTC on hover; the API stays UTC."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from releasetracker.templatetags.pages import ago_text
from tests.pages.conftest import deploy, make_release

pytestmark = pytest.mark.django_db

SETTINGS = "/orgs/acme/settings/"


def set_zone(org, name):
    org.timezone = name
    org.save(update_fields=["timezone"])


def test_an_admin_sets_the_time_zone_and_the_pages_use_it(alice_client, org):
    page = alice_client.get(SETTINGS)
    assert page.status_code == 200 and '<option value="UTC" selected>UTC</option>' in page.content.decode()

    saved = alice_client.post(SETTINGS, {"timezone": "Asia/Tokyo"})

    assert saved.status_code == 303
    org.refresh_from_db()
    assert org.timezone == "Asia/Tokyo"
    assert "times in Asia/Tokyo" in alice_client.get("/orgs/acme/releases/").content.decode()


def test_an_unknown_time_zone_is_refused_naming_the_field(alice_client, org):
    response = alice_client.post(SETTINGS, {"timezone": "Mars/Olympus"})

    assert response.status_code == 400
    assert "Select a valid choice. Mars/Olympus is not one of the available choices." in response.content.decode()
    org.refresh_from_db()
    assert org.timezone == "UTC"


def test_only_admins_change_settings_and_other_organizations_see_nothing(bob_client, charlie_client, org):
    assert bob_client.get(SETTINGS).status_code == 403
    assert bob_client.post(SETTINGS, {"timezone": "Asia/Tokyo"}).status_code == 403
    assert charlie_client.post(SETTINGS, {"timezone": "Asia/Tokyo"}).status_code == 404
    org.refresh_from_db()
    assert org.timezone == "UTC"


def test_times_show_in_the_zone_with_utc_on_hover(alice_client, org):
    set_zone(org, "America/New_York")
    at = datetime(2026, 3, 2, 3, 30, tzinfo=UTC)  # 22:30 the evening before in New York
    release = make_release(org, "3.0.0", at=at)
    deploy(org, release, "production", at=at + timedelta(minutes=10))

    body = alice_client.get(f"/orgs/acme/releases/{release.public_id}/").content.decode()

    assert 'title="2026-03-02 03:30:00 UTC">2026-03-01 22:30</time>' in body
    assert "Time (America/New_York)" in body


def test_the_timeline_groups_and_filters_by_the_zones_days(alice_client, org):
    set_zone(org, "Asia/Tokyo")
    # 20:00 UTC on March 1 is 05:00 on March 2 in Tokyo.
    make_release(org, "late", at=datetime(2026, 3, 1, 20, tzinfo=UTC))
    make_release(org, "early", at=datetime(2026, 3, 1, 10, tzinfo=UTC))

    body = alice_client.get("/orgs/acme/releases/").content.decode()
    assert "Monday, 2 March 2026" in body and "Sunday, 1 March 2026" in body
    on_the_second = alice_client.get("/orgs/acme/releases/?since=2026-03-02&until=2026-03-02")
    assert [r.version for r in on_the_second.context["releases"]] == ["late"]


def test_the_api_answers_in_utc_whatever_the_zone(read_api, org):
    set_zone(org, "Asia/Tokyo")
    make_release(org, "4.0.0", at=datetime(2026, 3, 1, 20, tzinfo=UTC))

    created = read_api.get("/api/v1/releases/").json()["results"][0]["created_at"]

    assert created in ("2026-03-01T20:00:00Z", "2026-03-01T20:00:00+00:00")


def test_recent_times_read_as_time_ago(alice_client, alice, org):
    from tests.factories import issue_token

    token, _ = issue_token(org, name="ci")
    token.last_used_at = timezone.now() - timedelta(hours=2, minutes=5)
    token.save(update_fields=["last_used_at"])

    body = alice_client.get("/orgs/acme/settings/tokens/").content.decode()

    assert ">2 h ago</time>" in body


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5, "just now"), (125, "2 min ago"), (7300, "2 h ago"), (3 * 86400 + 5, "3 d ago"), (-10, "in the future")],
)
def test_time_ago_uses_the_largest_unit(seconds, text):
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    assert ago_text(now - timedelta(seconds=seconds), now) == text


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo", "America/Los_Angeles"])
@pytest.mark.parametrize("path", ["releases/", "deployments/", "incidents/"])
def test_dates_at_the_ends_of_the_calendar_are_refused_naming_the_field_not_a_500(alice_client, org, zone, path):
    set_zone(org, zone)

    for query, field in (("until=9999-12-31", "until"), ("since=0001-01-01", "since")):
        response = alice_client.get(f"/orgs/acme/{path}?{query}")

        assert response.status_code == 400
        assert response.context["form"].errors[field]
