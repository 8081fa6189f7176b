"""The incidents page, incidents next to their deployment on the release and deployments pages,
and the incident settings page (hook URLs, secrets shown once, the attribution window)."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from incidents.models import IncidentSettings
from incidents.services import incident_create, incident_secret_ensure, incident_settings_update
from tests.pages.conftest import T0, deploy, make_release

pytestmark = pytest.mark.django_db

SETTINGS = "/orgs/acme/settings/incidents/"


@pytest.fixture
def incidents(org, history):
    failed = history["failed"]
    linked, _ = incident_create(
        organization=org,
        title="Checkout returns 500",
        severity="SEV1",
        started_at=T0 + timedelta(hours=3, minutes=40),
        resolved_at=T0 + timedelta(hours=5, minutes=40),
        deployment=failed,
        url="https://acme.pagerduty.com/incidents/PGR0VU2",
    )
    staging, _ = incident_create(
        organization=org, title="Staging queue stuck", started_at=T0 + timedelta(days=1), environment="staging"
    )
    web, _ = incident_create(
        organization=org, title="Web assets 404", started_at=T0 + timedelta(days=1, hours=2), project="web"
    )
    return {"linked": linked, "staging": staging, "web": web}


def titles(response) -> list[str]:
    return [incident.title for incident in response.context["page"].object_list]


def test_the_incidents_page_lists_newest_first_and_is_in_the_nav(alice_client, incidents):
    response = alice_client.get("/orgs/acme/incidents/")

    assert response.status_code == 200
    assert titles(response) == ["Web assets 404", "Staging queue stuck", "Checkout returns 500"]
    body = response.content.decode()
    assert 'href="/orgs/acme/incidents/" aria-current="page">Incidents</a>' in body
    assert "2 h" in body  # the resolved one's time to restore
    assert 'href="https://acme.pagerduty.com/incidents/PGR0VU2"' in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=open", ["Web assets 404", "Staging queue stuck"]),
        ("status=resolved", ["Checkout returns 500"]),
        ("environment=staging", ["Staging queue stuck"]),
        ("project=web", ["Web assets 404"]),
        ("since=2026-03-03", ["Web assets 404", "Staging queue stuck"]),
        ("until=2026-03-02", ["Checkout returns 500"]),
        # The metrics' scope: every production environment (the web one has the default, production).
        ("is_production=1", ["Web assets 404", "Checkout returns 500"]),
    ],
)
def test_the_incidents_page_filters(alice_client, incidents, query, expected):
    response = alice_client.get(f"/orgs/acme/incidents/?{query}")

    assert response.status_code == 200
    assert titles(response) == expected


def test_the_incidents_page_reads_from_and_to_as_utc_days_only_when_asked(alice_client, org, incidents):
    org.timezone = "America/Los_Angeles"
    org.save(update_fields=["timezone"])
    # 02:00 UTC on 3 March: still 2 March in Los Angeles.
    incident_create(organization=org, title="Night pager", started_at=datetime(2026, 3, 3, 2, tzinfo=UTC))

    in_utc = alice_client.get("/orgs/acme/incidents/?since=2026-03-03&until=2026-03-03&tz=UTC")
    in_los_angeles = alice_client.get("/orgs/acme/incidents/?since=2026-03-03&until=2026-03-03")

    assert titles(in_utc) == ["Web assets 404", "Staging queue stuck", "Night pager"]
    assert titles(in_los_angeles) == ["Web assets 404", "Staging queue stuck"]
    body = in_utc.content.decode()
    assert "From and To are dates in UTC" in body and '<input type="hidden" name="tz" value="UTC"' in body
    assert "From and To are dates in UTC" not in in_los_angeles.content.decode()


@pytest.mark.parametrize("query", ["tz=Europe/Paris", "tz=utc", "is_production=true"])
def test_a_bad_value_of_the_metrics_filters_is_a_400(alice_client, incidents, query):
    assert alice_client.get(f"/orgs/acme/incidents/?{query}").status_code == 400


def test_a_bad_filter_is_shown_not_a_500(alice_client, incidents):
    response = alice_client.get("/orgs/acme/incidents/?status=bogus&since=notadate")

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_a_javascript_url_is_never_a_link(alice_client, org):
    incident_create(organization=org, title="x", started_at=T0)
    from incidents.models import Incident

    Incident.objects.update(url="javascript:alert(1)")  # as if stored before the rule
    body = alice_client.get("/orgs/acme/incidents/").content.decode()

    assert 'href="javascript:' not in body


def test_another_organizations_incidents_page_is_a_404(charlie_client, incidents):
    assert charlie_client.get("/orgs/acme/incidents/").status_code == 404


def test_a_linked_incident_shows_on_the_release_page_with_its_time_to_restore(alice_client, incidents):
    body = alice_client.get("/orgs/acme/releases/1.1.0/").content.decode()

    assert "Checkout returns 500" in body and "restored in 2 h" in body
    assert "Checkout returns 500" not in alice_client.get("/orgs/acme/releases/1.0.0/").content.decode()


def test_a_linked_incident_shows_next_to_its_deployment_on_the_deployments_page(alice_client, incidents, history):
    response = alice_client.get("/orgs/acme/deployments/")

    rows = {d.pk: [i.title for i in d.linked_incidents] for d in response.context["page"].object_list}
    assert rows[history["failed"].pk] == ["Checkout returns 500"]
    assert sum(len(titles) for titles in rows.values()) == 1


@pytest.mark.parametrize("count", [3, 30])
def test_the_pages_query_counts_do_not_grow_with_incidents(alice_client, org, django_assert_max_num_queries, count):
    release = make_release(org, "9.0.0", at=T0)
    deployment = deploy(org, release, "production", at=T0)
    for i in range(count):
        incident_create(
            organization=org, title=f"incident {i}", started_at=T0 + timedelta(minutes=i), deployment=deployment
        )
    with django_assert_max_num_queries(8):
        assert alice_client.get("/orgs/acme/incidents/").status_code == 200
    with django_assert_max_num_queries(14):
        assert alice_client.get("/orgs/acme/releases/9.0.0/").status_code == 200
    with django_assert_max_num_queries(13):
        assert alice_client.get("/orgs/acme/deployments/").status_code == 200


# Settings -----------------------------------------------------------------------------------------


def test_settings_show_each_hook_url_and_whether_its_secret_is_set(alice_client, org):
    incident_settings_update(organization=org, pagerduty_secret="from-pagerduty")

    body = alice_client.get("/orgs/acme/settings/incidents/").content.decode()

    assert "http://testserver/hooks/pagerduty/acme/" in body
    assert "http://testserver/hooks/opsgenie/acme/" in body
    assert "http://testserver/hooks/incidents/acme/" in body
    assert body.count("secret set") == 1
    assert "from-pagerduty" not in body


def shown_secret(response) -> str:
    match = re.search(r'id="new-secret"[^>]*>([0-9a-f]{64})<', response.content.decode())
    return match.group(1) if match else ""


def age_the_kept_value(client, key: str, seconds: int) -> None:
    session = client.session
    session[key] = {**session[key], "issued_at": session[key]["issued_at"] - seconds}
    session.save()


def test_making_a_secret_shows_it_once(alice_client, org):
    posted = alice_client.post(SETTINGS, {"action": "generic"})

    # Post/redirect/get: the secret is never in the POST answer, so a reload cannot post again.
    assert posted.status_code == 303 and posted["Location"] == SETTINGS
    secret = IncidentSettings.objects.get(organization=org).generic_secret
    assert len(secret) == 64 and secret not in posted.content.decode()
    response = alice_client.get(SETTINGS)
    assert response["Cache-Control"] == "no-store" and shown_secret(response) == secret
    assert secret not in alice_client.get(SETTINGS).content.decode()


def test_reloading_after_making_a_secret_shows_nothing_and_replaces_nothing(alice_client, org):
    alice_client.post(SETTINGS, {"action": "opsgenie"})
    secret = shown_secret(alice_client.get(SETTINGS))

    reloaded = alice_client.get(SETTINGS)
    # A browser that posts the form again is asked first, and nothing changes until it answers.
    posted_again = alice_client.post(SETTINGS, {"action": "opsgenie"})

    assert secret and not shown_secret(reloaded) and "no-store" not in reloaded.get("Cache-Control", "")
    assert posted_again.status_code == 303 and posted_again["Location"] == f"{SETTINGS}?replace=opsgenie"
    assert IncidentSettings.objects.get(organization=org).opsgenie_secret == secret
    assert not shown_secret(alice_client.get(SETTINGS))


def test_replacing_a_secret_asks_for_confirmation_first(alice_client, org):
    incident_secret_ensure(organization=org, source="generic")
    old = IncidentSettings.objects.get(organization=org).generic_secret

    body = alice_client.get(SETTINGS).content.decode()
    question = alice_client.get(f"{SETTINGS}?replace=generic").content.decode()

    assert 'href="?replace=generic#replace-title"' in body and "Replace the secret…" in body
    assert 'name="confirm"' not in body
    assert "Replace the Generic (Grafana, Alertmanager, scripts) secret?" in question
    assert 'name="confirm" value="yes"' in question
    assert IncidentSettings.objects.get(organization=org).generic_secret == old
    confirmed = alice_client.post(SETTINGS, {"action": "generic", "confirm": "yes"})
    assert confirmed.status_code == 303 and confirmed["Location"] == SETTINGS
    new = IncidentSettings.objects.get(organization=org).generic_secret
    assert new != old and shown_secret(alice_client.get(SETTINGS)) == new


def test_a_secret_left_unread_for_more_than_five_minutes_is_not_shown(alice_client, org):
    alice_client.post(SETTINGS, {"action": "generic"})
    age_the_kept_value(alice_client, "incidents:secret", 6 * 60)

    response = alice_client.get(SETTINGS)

    assert not shown_secret(response)
    assert IncidentSettings.objects.get(organization=org).generic_secret not in response.content.decode()


def test_pasting_the_pagerduty_secret_and_setting_the_window(alice_client, org):
    alice_client.post("/orgs/acme/settings/incidents/", {"action": "pagerduty", "pagerduty_secret": " pd-secret "})
    alice_client.post("/orgs/acme/settings/incidents/", {"action": "window", "attribution_window_days": "3"})

    row = IncidentSettings.objects.get(organization=org)
    assert row.pagerduty_secret == "pd-secret" and row.attribution_window == timedelta(days=3)


@pytest.mark.parametrize("days", ["0", "91", "many"])
def test_a_bad_window_is_refused_and_kept(alice_client, org, days):
    response = alice_client.post(
        "/orgs/acme/settings/incidents/", {"action": "window", "attribution_window_days": days}
    )

    assert response.status_code == 400
    assert not IncidentSettings.objects.filter(organization=org).exists()


def test_settings_are_for_the_organizations_admins(bob_client, charlie_client, org):
    assert bob_client.get("/orgs/acme/settings/incidents/").status_code == 403
    assert bob_client.post("/orgs/acme/settings/incidents/", {"action": "generic"}).status_code == 403
    assert charlie_client.get("/orgs/acme/settings/incidents/").status_code == 404
    assert not IncidentSettings.objects.exists()


def test_the_incidents_page_links_admins_to_the_settings(alice_client, bob_client, org):
    link = re.compile(r'href="/orgs/acme/settings/incidents/"')

    assert link.search(alice_client.get("/orgs/acme/incidents/").content.decode())
    assert not link.search(bob_client.get("/orgs/acme/incidents/").content.decode())
