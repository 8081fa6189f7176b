"""The incidents admin: listed, searchable, filterable, and every save goes through the services."""

from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client

from deployments.services import deployment_record
from incidents.models import Incident, IncidentSettings
from incidents.services import incident_create, incident_event_once
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 10, 12, 9, 0, tzinfo=UTC)


@pytest.fixture
def staff_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))
    return client


def test_every_incidents_model_is_registered():
    for model in apps.get_app_config("incidents").get_models():
        assert admin.site.is_registered(model), f"{model.__name__} is not in the admin"


@pytest.mark.parametrize("count", [3, 30])
def test_the_lists_and_forms_load_with_a_flat_query_count(staff_client, org, count, django_assert_max_num_queries):
    for i in range(count):
        incident_create(organization=org, title=f"incident {i}", started_at=T0, severity="SEV2", external_id=f"I{i}")
    incident_event_once(organization=org, source="pagerduty", event_id="E1", event_type="t", handle=lambda: None)
    for url in ("/admin/incidents/incident/", "/admin/incidents/incidentsettings/", "/admin/incidents/incidentevent/"):
        with django_assert_max_num_queries(14):
            assert staff_client.get(url).status_code == 200, url
    incident = Incident.objects.first()
    for url in (
        f"/admin/incidents/incident/{incident.pk}/change/",
        "/admin/incidents/incident/add/",
        "/admin/incidents/incidentsettings/add/",
    ):
        assert staff_client.get(url).status_code == 200, url


def test_search_and_filters_find_incidents(staff_client, org):
    incident_create(organization=org, title="Checkout down", started_at=T0, severity="SEV1", external_id="PD-77")
    incident_create(organization=org, title="Slow search", started_at=T0, resolved_at=T0 + timedelta(hours=1))

    assert b"Checkout down" in staff_client.get("/admin/incidents/incident/?q=PD-77").content
    assert b"Slow search" not in staff_client.get("/admin/incidents/incident/?q=PD-77").content
    resolved = staff_client.get("/admin/incidents/incident/?status__exact=resolved").content
    assert b"Slow search" in resolved and b"Checkout down" not in resolved
    assert b"Checkout down" in staff_client.get("/admin/incidents/incident/?severity=SEV1").content
    assert b"Checkout down" in staff_client.get("/admin/incidents/incident/?environment__name=production").content
    assert b"Checkout down" in staff_client.get("/admin/incidents/incident/?source__exact=api").content


def test_adding_an_incident_in_the_admin_calls_the_service(staff_client, org):
    deployment, _ = deployment_record(organization=org, environment="eu-prod", commit_sha="f" * 40)
    response = staff_client.post(
        "/admin/incidents/incident/add/",
        {
            "organization": org.pk,
            "title": "Typed by hand",
            "severity": "P3",
            "status": "open",
            "started_at_0": "2026-10-12",
            "started_at_1": "09:00:00",
            "environment_name": "",
            "project_name": "api",
            "deployment_id": str(deployment.public_id),
            "commit_sha": "",
            "url": "",
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    incident = Incident.objects.get(organization=org)
    assert incident.source == "admin" and incident.created_by == "admin ops"
    assert incident.deployment == deployment and incident.environment.name == "eu-prod"
    assert incident.project.name == "api"


def test_resolving_in_the_admin_without_a_time_resolves_now(staff_client, org):
    incident, _ = incident_create(organization=org, title="x", started_at=T0)

    response = staff_client.post(
        f"/admin/incidents/incident/{incident.pk}/change/",
        {
            "title": "x",
            "severity": "",
            "status": "resolved",
            "started_at_0": "2026-10-12",
            "started_at_1": "09:00:00",
            "commit_sha": "",
            "url": "",
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    incident.refresh_from_db()
    assert incident.status == "resolved" and incident.resolved_at > T0


def test_a_refused_admin_save_says_why_and_stores_nothing(staff_client, org):
    response = staff_client.post(
        "/admin/incidents/incident/add/",
        {
            "organization": org.pk,
            "title": "x",
            "status": "open",
            "started_at_0": "2026-10-12",
            "started_at_1": "09:00:00",
            "deployment_id": "00000000-0000-4000-8000-000000000000",
        },
        follow=True,
    )

    assert "no such deployment in this organization" in response.content.decode()
    assert not Incident.objects.exists()


def test_settings_saved_in_the_admin_go_through_the_service(staff_client, org):
    response = staff_client.post(
        "/admin/incidents/incidentsettings/add/",
        {
            "organization": org.pk,
            "attribution_window": "3 00:00:00",
            "pagerduty_secret": " from-pagerduty ",
            "opsgenie_secret": "",
            "generic_secret": "",
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    row = IncidentSettings.objects.get(organization=org)
    assert row.attribution_window == timedelta(days=3) and row.pagerduty_secret == "from-pagerduty"


def test_the_settings_form_never_shows_a_stored_secret_and_an_empty_field_keeps_it(staff_client, org):
    from incidents.services import incident_settings_update

    row = incident_settings_update(
        organization=org, opsgenie_secret="og-secret-value", generic_secret="gen-secret-value"
    )
    url = f"/admin/incidents/incidentsettings/{row.pk}/change/"

    page = staff_client.get(url).content.decode()
    assert "og-secret-value" not in page and "gen-secret-value" not in page

    saved = staff_client.post(
        url,
        {"attribution_window": "2 00:00:00", "pagerduty_secret": "new-pd", "opsgenie_secret": "", "generic_secret": ""},
    )
    assert saved.status_code == 302, saved.content.decode()[:3000]
    row.refresh_from_db()
    assert (row.pagerduty_secret, row.opsgenie_secret, row.generic_secret) == (
        "new-pd",
        "og-secret-value",
        "gen-secret-value",
    )
