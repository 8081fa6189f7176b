"""Business rules of incidents: defaults, idempotency by external id, resolving, hook events, settings."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction

from deployments.services import deployment_record, environment_get_or_create
from incidents.models import Incident, IncidentSettings, IncidentSource, IncidentStatus
from incidents.selectors import incident_secret, incident_settings_get, incidents_of_deployments
from incidents.services import (
    incident_create,
    incident_event_once,
    incident_report,
    incident_resolve,
    incident_secret_ensure,
    incident_settings_update,
    incident_update,
)
from releasetracker.errors import Conflict, DomainError

T0 = datetime(2026, 10, 12, 9, 0, tzinfo=UTC)
SHA = "c" * 40


def test_an_incident_goes_to_the_production_environment_when_none_is_named(org):
    incident, created = incident_create(organization=org, title="API down", started_at=T0)

    assert created
    assert incident.environment.name == "production" and incident.environment.is_production
    assert incident.status == IncidentStatus.OPEN and incident.resolved_at is None


def test_an_incident_linked_to_a_deployment_takes_its_environment(org):
    deployment, _ = deployment_record(organization=org, environment="eu-prod", commit_sha=SHA)

    incident, _ = incident_create(organization=org, title="5xx", started_at=T0, deployment=str(deployment.public_id))

    assert incident.deployment == deployment and incident.environment.name == "eu-prod"
    assert incidents_of_deployments(organization=org, deployment_ids=[deployment.pk]) == {deployment.pk: [incident]}


def test_another_organizations_deployment_is_refused_as_missing(org, other_org):
    theirs, _ = deployment_record(organization=other_org, environment="production", commit_sha=SHA)

    with pytest.raises(DomainError) as refused:
        incident_create(organization=org, title="x", started_at=T0, deployment=str(theirs.public_id))

    assert str(refused.value) == "deployment: no such deployment in this organization"
    assert not Incident.objects.exists()


def test_the_same_external_id_and_payload_is_the_same_incident_and_another_payload_a_conflict(org):
    first, _ = incident_create(organization=org, title="DB slow", started_at=T0, external_id="INC-1", severity="SEV2")
    again, created = incident_create(
        organization=org, title="DB slow", started_at=T0, external_id="INC-1", severity="SEV2"
    )

    assert again.pk == first.pk and not created
    with pytest.raises(Conflict) as conflict:
        incident_create(organization=org, title="DB slow", started_at=T0, external_id="INC-1", severity="SEV1")
    assert conflict.value.fields == {"severity": ["differs from the existing incident"]}


def test_external_ids_are_unique_per_source_and_organization(org, other_org):
    api, _ = incident_create(organization=org, title="a", started_at=T0, external_id="P1")
    hooked, _ = incident_create(
        organization=org, title="b", started_at=T0, external_id="P1", source=IncidentSource.PAGERDUTY
    )
    theirs, _ = incident_create(organization=other_org, title="c", started_at=T0, external_id="P1")

    assert len({api.pk, hooked.pk, theirs.pk}) == 3


def test_resolving_defaults_to_now_and_never_before_the_start(org):
    incident, _ = incident_create(organization=org, title="x", started_at=T0)

    incident_resolve(organization=org, incident=incident)
    assert incident.status == IncidentStatus.RESOLVED and incident.resolved_at > T0

    with pytest.raises(DomainError) as refused:
        incident_update(organization=org, incident=incident, resolved_at=T0 - timedelta(minutes=1))
    assert str(refused.value) == "resolved_at: must not be before started_at"


def test_resolved_at_alone_resolves_and_reopening_clears_it(org):
    incident, _ = incident_create(organization=org, title="x", started_at=T0)

    incident_update(organization=org, incident=incident, resolved_at=T0 + timedelta(hours=2))
    assert incident.status == IncidentStatus.RESOLVED and incident.resolved_at == T0 + timedelta(hours=2)

    incident_update(organization=org, incident=incident, status="open")
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.OPEN and incident.resolved_at is None


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"title": ""}, "title: this field is required"),
        (
            {"url": "javascript:alert(1)"},
            "url: must be an http or https URL, for example https://ci.example.com/builds/1",
        ),
        ({"commit_sha": "not-a-sha"}, "commit_sha: 'not-a-sha' is not a commit sha (7 to 64 hex digits)"),
        ({"status": "closed"}, "status: 'closed' is not one of: open, resolved"),
        ({"status": "open", "resolved_at": T0}, "resolved_at: must be empty while the status is open"),
        ({"resolved_at": T0 - timedelta(hours=1)}, "resolved_at: must not be before started_at"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(org, fields, error):
    with pytest.raises(DomainError) as refused:
        incident_create(organization=org, **{"title": "x", "started_at": T0, **fields})

    assert str(refused.value) == error
    assert not Incident.objects.exists()


def test_the_database_refuses_a_resolved_incident_without_a_time(org):
    env = environment_get_or_create(organization=org, name="production")
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.create(organization=org, title="x", started_at=T0, environment=env, status="resolved")


def test_a_report_creates_then_resolves_and_a_repeat_changes_nothing(org):
    incident, what = incident_report(
        organization=org, source=IncidentSource.PAGERDUTY, external_id="Q1", status="open", title="x", started_at=T0
    )
    assert what == "created"
    _, what = incident_report(
        organization=org, source=IncidentSource.PAGERDUTY, external_id="Q1", status="open", title="x", started_at=T0
    )
    assert what == "unchanged"
    resolved_at = T0 + timedelta(hours=1)
    _, what = incident_report(
        organization=org,
        source=IncidentSource.PAGERDUTY,
        external_id="Q1",
        status="resolved",
        title="x",
        resolved_at=resolved_at,
    )
    incident.refresh_from_db()
    assert what == "resolved" and incident.resolved_at == resolved_at


def test_an_event_is_handled_once(org):
    calls = []

    first = incident_event_once(
        organization=org, source="pagerduty", event_id="E1", event_type="t", handle=lambda: calls.append(1)
    )
    second = incident_event_once(
        organization=org, source="pagerduty", event_id="E1", event_type="t", handle=lambda: calls.append(2)
    )

    assert first[0] and not second[0] and calls == [1]


def test_settings_default_to_a_seven_day_window_and_secrets_are_made_once(org):
    assert incident_settings_get(organization=org).attribution_window == timedelta(days=7)
    assert incident_secret(organization=org, source="generic") == ""

    secret, created = incident_secret_ensure(organization=org, source="generic")
    again, created_again = incident_secret_ensure(organization=org, source="generic")

    assert created and not created_again and again == secret and len(secret) == 64
    assert incident_secret(organization=org, source="generic") == secret
    incident_settings_update(organization=org, attribution_window=timedelta(days=3), pagerduty_secret=" pd ")
    row = IncidentSettings.objects.get(organization=org)
    assert row.attribution_window == timedelta(days=3) and row.pagerduty_secret == "pd"
    with pytest.raises(DomainError):
        incident_settings_update(organization=org, attribution_window=timedelta(days=91))


def test_the_incident_secret_command_prints_a_secret_only_when_it_makes_or_rotates_one(org):
    from io import StringIO

    from django.core.management import call_command

    first, second, second_err, rotated = StringIO(), StringIO(), StringIO(), StringIO()
    call_command("incident_secret", "acme", "opsgenie", stdout=first, stderr=StringIO())
    made = incident_secret(organization=org, source="opsgenie")
    call_command("incident_secret", "acme", "opsgenie", stdout=second, stderr=second_err)
    call_command("incident_secret", "acme", "opsgenie", "--rotate", stdout=rotated, stderr=StringIO())

    assert first.getvalue().strip() == made
    assert second.getvalue() == "" and "exists; use --rotate to replace it" in second_err.getvalue()
    assert rotated.getvalue().strip() == incident_secret(organization=org, source="opsgenie") != made
