"""Incoming incident hooks: PagerDuty (Webhooks V3), Opsgenie and the generic form, each with its
real payload shape and signature; bad signatures, replays and unknown event types."""

import hashlib
import hmac
import json
import time

import pytest
from django.test import Client

from deployments.services import deployment_record
from incidents.models import Incident, IncidentStatus
from incidents.services import incident_settings_update

pytestmark = pytest.mark.django_db

PD_SECRET = "pd-signing-secret-from-pagerduty"
OG_SECRET = "opsgenie-shared-secret"
GENERIC_SECRET = "generic-hook-secret"


@pytest.fixture
def secrets(org):
    incident_settings_update(
        organization=org, pagerduty_secret=PD_SECRET, opsgenie_secret=OG_SECRET, generic_secret=GENERIC_SECRET
    )


def pd_event(event_id: str, event_type: str, *, status="triggered", occurred_at="2026-10-12T09:05:00.169Z") -> dict:
    """A PagerDuty V3 webhook body, as PagerDuty documents it (trimmed of references we ignore)."""
    return {
        "event": {
            "id": event_id,
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": occurred_at,
            "agent": {
                "html_url": "https://acme.pagerduty.com/users/PLH1HKV",
                "id": "PLH1HKV",
                "type": "user_reference",
            },
            "client": None,
            "data": {
                "id": "PGR0VU2",
                "type": "incident",
                "self": "https://api.pagerduty.com/incidents/PGR0VU2",
                "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
                "number": 2,
                "status": status,
                "incident_key": "d3640fbd41094207a1c11e58e46b1662",
                "created_at": "2026-10-12T09:00:00Z",
                "title": "Checkout returns 500",
                "service": {"id": "PF9KMXH", "summary": "API Service", "type": "service_reference"},
                "assignees": [],
                "escalation_policy": {"id": "PL1JMK5", "summary": "IT Escalation Policy"},
                "teams": [],
                "priority": {
                    "html_url": "https://acme.pagerduty.com/account/incident_priorities",
                    "id": "PSO75BM",
                    "self": "https://api.pagerduty.com/priorities/PSO75BM",
                    "summary": "P1",
                    "type": "priority_reference",
                },
                "urgency": "high",
                "conference_bridge": None,
                "resolve_reason": None,
            },
        }
    }


def pd_post(client: Client, body: dict, *, secret=PD_SECRET, extra_signatures=(), slug="acme", query=""):
    raw = json.dumps(body).encode()
    signature = "v1=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    header = ",".join([*extra_signatures, signature])
    return client.post(
        f"/hooks/pagerduty/{slug}/{query}",
        raw,
        content_type="application/json",
        HTTP_X_PAGERDUTY_SIGNATURE=header,
        HTTP_USER_AGENT="PagerDuty-Webhook/V3.0",
    )


def test_pagerduty_triggered_then_resolved_opens_and_resolves_an_incident(client, org, secrets):
    opened = pd_post(client, pd_event("01DEN0VJQBX7", "incident.triggered"))

    assert opened.status_code == 200, opened.content
    incident = Incident.objects.get(organization=org)
    assert incident.title == "Checkout returns 500" and incident.external_id == "PGR0VU2"
    assert incident.source == "pagerduty" and incident.severity == "P1" and incident.status == IncidentStatus.OPEN
    assert incident.url == "https://acme.pagerduty.com/incidents/PGR0VU2"
    assert incident.started_at.isoformat() == "2026-10-12T09:00:00+00:00"
    assert incident.environment.name == "production"

    resolved = pd_post(client, pd_event("01DEN0VJQBX8", "incident.resolved", status="resolved"))

    assert resolved.status_code == 200 and resolved.json()["note"] == "incident resolved"
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.resolved_at.isoformat() == "2026-10-12T09:05:00.169000+00:00"


def test_pagerduty_takes_any_of_several_signatures(client, org, secrets):
    response = pd_post(client, pd_event("E1", "incident.triggered"), extra_signatures=["v1=" + "0" * 64])

    assert response.status_code == 200
    assert Incident.objects.filter(organization=org).count() == 1


def test_the_hook_url_may_name_the_environment_and_project(client, org, secrets):
    pd_post(client, pd_event("E1", "incident.triggered"), query="?environment=eu-prod&project=api")

    incident = Incident.objects.get(organization=org)
    assert incident.environment.name == "eu-prod" and incident.project.name == "api"


@pytest.mark.parametrize(
    ("secret", "slug"), [("wrong-secret", "acme"), (PD_SECRET, "globex"), (PD_SECRET, "no-such-org")]
)
def test_a_bad_pagerduty_signature_is_a_401_and_changes_nothing(client, org, other_org, secrets, secret, slug):
    response = pd_post(client, pd_event("E1", "incident.triggered"), secret=secret, slug=slug)

    assert response.status_code == 401 and response.json()["code"] == "bad_signature"
    assert not Incident.objects.exists()


def test_a_missing_signature_is_a_401(client, org, secrets):
    response = client.post(
        "/hooks/pagerduty/acme/", json.dumps(pd_event("E1", "incident.triggered")), "application/json"
    )

    assert response.status_code == 401
    assert response.json()["error"].startswith("X-PagerDuty-Signature header is missing")


def test_without_a_secret_configured_every_event_is_refused(client, org):
    response = pd_post(client, pd_event("E1", "incident.triggered"), secret="")

    assert response.status_code == 401 and not Incident.objects.exists()


def test_a_replayed_pagerduty_event_changes_nothing(client, org, secrets):
    pd_post(client, pd_event("E1", "incident.triggered"))
    pd_post(client, pd_event("E2", "incident.resolved", status="resolved"))

    replay = pd_post(client, pd_event("E1", "incident.triggered"))

    assert replay.status_code == 200 and "already processed" in replay.json()["note"]
    assert Incident.objects.get(organization=org).status == IncidentStatus.RESOLVED


@pytest.mark.parametrize("event_type", ["incident.acknowledged", "incident.annotated", "service.updated", "pagey.ping"])
def test_an_unknown_pagerduty_event_type_is_a_202_that_changes_nothing(client, org, secrets, event_type):
    response = pd_post(client, pd_event("E9", event_type))

    assert response.status_code == 202
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda body: body.pop("event"), "event"),
        (lambda body: body["event"]["data"].pop("title"), "event.data.title"),
        (lambda body: body["event"]["data"].update(type="service"), "event.data.type"),
        (lambda body: body["event"]["data"].update(created_at="yesterday"), "event.data.created_at"),
        (lambda body: body["event"]["data"].update(priority="P1"), "event.data.priority"),
        (lambda body: body["event"]["data"].update(html_url="javascript:alert(1)"), "event.data.html_url"),
        (lambda body: body["event"]["data"].update(title="x" * 501), "event.data.title"),
    ],
)
def test_a_malformed_pagerduty_payload_is_a_400_naming_the_json_path(client, org, secrets, mutate, field):
    body = pd_event("E1", "incident.triggered")
    mutate(body)

    response = pd_post(client, body)

    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    assert not Incident.objects.exists()


def test_a_failed_event_is_not_remembered_so_its_retry_is_handled(client, org, secrets):
    body = pd_event("E1", "incident.triggered")
    body["event"]["data"]["created_at"] = "not a time"
    assert pd_post(client, body).status_code == 400

    assert pd_post(client, pd_event("E1", "incident.triggered")).status_code == 200
    assert Incident.objects.count() == 1


def test_only_post_is_accepted(client, org, secrets):
    assert client.get("/hooks/pagerduty/acme/").status_code == 405
    assert client.get("/hooks/pagerduty/acme/extra/path/").status_code == 404


# Opsgenie -----------------------------------------------------------------------------------------


def og_event(action: str, *, alert_id="70413a06-38d6-4c85-92b8-5ebc900d42e2-1561390530163") -> dict:
    """An Opsgenie webhook integration body, as Opsgenie sends it for an alert action."""
    return {
        "action": action,
        "alert": {
            "alertId": alert_id,
            "message": "CPU above 95% on web-3",
            "tags": ["prod"],
            "tinyId": "42",
            "entity": "web-3",
            "alias": "cpu-web-3",
            "createdAt": 1791795600000,
            "updatedAt": 1791802800000,
            "username": "System",
            "userId": "",
            "priority": "P2",
            "source": "Grafana",
        },
        "source": {"name": "", "type": "system"},
        "integrationName": "Release Tracker",
        "integrationId": "4d6a5a0e-8d0b-4e2b-8a0a-7a1d1f0e0e0e",
        "integrationType": "Webhook",
    }


def og_post(client: Client, body: dict, *, secret=OG_SECRET, slug="acme"):
    headers = {"HTTP_X_WEBHOOK_SECRET": secret} if secret is not None else {}
    return client.post(f"/hooks/opsgenie/{slug}/", json.dumps(body), content_type="application/json", **headers)


def test_opsgenie_create_then_close_opens_and_resolves_an_incident(client, org, secrets):
    assert og_post(client, og_event("Create")).status_code == 200
    incident = Incident.objects.get(organization=org)
    assert incident.title == "CPU above 95% on web-3" and incident.severity == "P2" and incident.source == "opsgenie"
    assert incident.started_at.isoformat() == "2026-10-12T09:00:00+00:00" and incident.is_open

    assert og_post(client, og_event("Close")).status_code == 200

    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.resolved_at.isoformat() == "2026-10-12T11:00:00+00:00"


@pytest.mark.parametrize("secret", ["wrong", None, ""])
def test_a_wrong_or_missing_opsgenie_secret_is_a_401(client, org, secrets, secret):
    assert og_post(client, og_event("Create"), secret=secret).status_code == 401
    assert not Incident.objects.exists()


@pytest.mark.parametrize("action", ["Acknowledge", "AddNote", "Delete", "UnAcknowledge"])
def test_other_opsgenie_actions_are_a_202_that_change_nothing(client, org, secrets, action):
    assert og_post(client, og_event(action)).status_code == 202
    assert not Incident.objects.exists()


def test_a_replayed_opsgenie_action_changes_nothing(client, org, secrets):
    og_post(client, og_event("Create"))
    og_post(client, og_event("Close"))

    replay = og_post(client, og_event("Create"))

    assert replay.status_code == 200 and "already processed" in replay.json()["note"]
    assert Incident.objects.get(organization=org).status == IncidentStatus.RESOLVED


def test_a_malformed_opsgenie_time_is_a_400(client, org, secrets):
    body = og_event("Create")
    body["alert"]["createdAt"] = True

    response = og_post(client, body)

    assert response.status_code == 400 and "alert.createdAt" in response.json()["fields"]


# Generic ------------------------------------------------------------------------------------------


def generic_headers(raw: bytes, *, secret=GENERIC_SECRET, timestamp=None) -> dict:
    """The generic hook's signature: HMAC-SHA256 of ``<timestamp>.<body>``, the timestamp in its own header."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + raw
    return {
        "HTTP_X_SIGNATURE_256": "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest(),
        "HTTP_X_SIGNATURE_TIMESTAMP": str(timestamp),
    }


def generic_post(client: Client, body: dict, *, secret=GENERIC_SECRET, timestamp=None, **extra):
    raw = json.dumps(body).encode()
    headers = {**generic_headers(raw, secret=secret, timestamp=timestamp), **extra}
    return client.post("/hooks/incidents/acme/", raw, content_type="application/json", **headers)


SHA = "e" * 40


def test_the_generic_hook_records_every_field_and_resolves(client, org, secrets):
    deployment, _ = deployment_record(organization=org, environment="production", commit_sha=SHA)
    body = {
        "id": "grafana-123",
        "title": "Error rate above 5%",
        "status": "firing",
        "started_at": "2026-10-12T09:00:00Z",
        "severity": "critical",
        "environment": "production",
        "project": "api",
        "commit_sha": SHA,
        "url": "https://grafana.example.com/alerting/123",
        "deployment": str(deployment.public_id),
    }

    assert generic_post(client, body).status_code == 200
    incident = Incident.objects.get(organization=org)
    assert (incident.source, incident.severity, incident.project.name) == ("generic", "critical", "api")
    assert incident.deployment == deployment and incident.commit_sha == SHA

    resolved = generic_post(client, {**body, "status": "resolved", "resolved_at": "2026-10-12T10:30:00Z"})

    assert resolved.status_code == 200
    incident.refresh_from_db()
    assert incident.status == "resolved" and incident.resolved_at.isoformat() == "2026-10-12T10:30:00+00:00"


def test_a_bad_generic_signature_is_a_401(client, org, secrets):
    response = generic_post(client, {"id": "1", "title": "x", "status": "open"}, secret="nope")

    assert response.status_code == 401 and not Incident.objects.exists()


def test_the_same_generic_body_or_event_id_again_changes_nothing(client, org, secrets):
    body = {"id": "1", "title": "x", "status": "open"}
    generic_post(client, body)
    generic_post(client, {**body, "status": "resolved", "event_id": "ev-2"})

    assert "already processed" in generic_post(client, body).json()["note"]
    assert "already processed" in generic_post(client, {**body, "title": "y", "event_id": "ev-2"}).json()["note"]
    assert Incident.objects.get(organization=org).status == "resolved"


def test_a_captured_generic_firing_sent_again_does_not_reopen_the_resolved_incident(client, org, secrets):
    firing = json.dumps({"id": "grafana-9", "title": "Error rate above 5%", "status": "firing"}).encode()
    captured = generic_headers(firing)
    assert client.post("/hooks/incidents/acme/", firing, "application/json", **captured).status_code == 200
    assert (
        generic_post(client, {"id": "grafana-9", "title": "Error rate above 5%", "status": "resolved"}).status_code
        == 200
    )

    # The same signed bytes under a fresh, unsigned event id: refused, as the id is not signed.
    renamed = client.post("/hooks/incidents/acme/", firing, "application/json", HTTP_X_EVENT_ID="new-1", **captured)
    # The same signed bytes as they were: the signed content names an event already handled.
    again = client.post("/hooks/incidents/acme/", firing, "application/json", **captured)

    assert renamed.status_code == 400 and "X-Event-Id" in renamed.json()["fields"]
    assert again.status_code == 200 and "already processed" in again.json()["note"]
    assert Incident.objects.get(organization=org).status == "resolved"


@pytest.mark.parametrize(("offset", "words"), [(-301, "seconds old"), (301, "seconds in the future")])
def test_a_generic_signature_more_than_five_minutes_from_now_is_a_401_saying_why(client, org, secrets, offset, words):
    response = generic_post(client, {"id": "1", "title": "x", "status": "open"}, timestamp=int(time.time()) + offset)

    assert response.status_code == 401
    assert "X-Signature-Timestamp" in response.json()["error"] and words in response.json()["error"]
    assert not Incident.objects.exists()


def test_a_generic_signature_of_the_body_alone_or_without_its_timestamp_is_a_401(client, org, secrets):
    raw = json.dumps({"id": "1", "title": "x", "status": "open"}).encode()
    body_only = "sha256=" + hmac.new(GENERIC_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    now = str(int(time.time()))

    unsigned_time = client.post(
        "/hooks/incidents/acme/",
        raw,
        "application/json",
        HTTP_X_SIGNATURE_256=body_only,
        HTTP_X_SIGNATURE_TIMESTAMP=now,
    )
    no_time = client.post("/hooks/incidents/acme/", raw, "application/json", HTTP_X_SIGNATURE_256=body_only)
    garbled = generic_post(client, {"id": "1", "title": "x", "status": "open"}, HTTP_X_SIGNATURE_TIMESTAMP="soon")

    assert unsigned_time.status_code == no_time.status_code == garbled.status_code == 401
    assert "X-Signature-Timestamp header is missing" in no_time.json()["error"]
    assert "Unix time" in garbled.json()["error"]
    assert not Incident.objects.exists()


def test_an_unknown_generic_status_is_a_202(client, org, secrets):
    response = generic_post(client, {"id": "1", "title": "x", "status": "acknowledged"})

    assert response.status_code == 202 and not Incident.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "x", "status": "open"}, "id"),
        ({"id": "1", "status": "open"}, "title"),
        ({"id": "1", "title": "x"}, "status"),
        ({"id": "1", "title": "x", "status": "open", "started_at": "2026-10-12T09:00:00"}, "started_at"),
        (
            {"id": "1", "title": "x", "status": "open", "deployment": "00000000-0000-4000-8000-000000000000"},
            "deployment",
        ),
        ({"id": "1", "title": "x", "status": "open", "commit_sha": "main"}, "commit_sha"),
    ],
)
def test_a_malformed_generic_body_is_a_400_naming_the_field(client, org, secrets, body, field):
    response = generic_post(client, body)

    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    assert not Incident.objects.exists()


def test_a_body_that_is_not_a_json_object_is_a_400(client, org, secrets):
    raw = b"[1, 2]"

    response = client.post("/hooks/incidents/acme/", raw, "application/json", **generic_headers(raw))

    assert response.status_code == 400


def test_a_nul_byte_or_a_deeply_nested_body_is_a_400(client, org, secrets):
    body = pd_event("E1", "incident.triggered")
    body["event"]["data"]["title"] = "Checkout\x00down"
    assert pd_post(client, body).status_code == 400

    raw = b"[" * 100_000 + b"]" * 100_000
    response = client.post("/hooks/incidents/acme/", raw, "application/json", **generic_headers(raw))
    assert response.status_code == 400
    assert not Incident.objects.exists()


def test_an_overlong_event_id_is_a_400(client, org, secrets):
    response = generic_post(client, {"id": "1", "title": "x", "status": "open", "event_id": "e" * 201})

    assert response.status_code == 400 and "event_id" in response.json()["fields"]
    assert not Incident.objects.exists()


def test_a_trigger_delivered_after_its_resolution_does_not_reopen_the_incident(client, org, secrets):
    resolved = pd_event("E2", "incident.resolved", status="resolved", occurred_at="2026-10-12T10:00:00Z")
    late_trigger = pd_event("E1", "incident.triggered", occurred_at="2026-10-12T09:00:01Z")

    assert pd_post(client, resolved).status_code == 200
    assert pd_post(client, late_trigger).json()["note"] == "incident unchanged"

    incident = Incident.objects.get(organization=org)
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.started_at.isoformat() == "2026-10-12T09:00:00+00:00"


def test_a_trigger_after_the_resolution_reopens_the_incident(client, org, secrets):
    pd_post(client, pd_event("E1", "incident.triggered", occurred_at="2026-10-12T09:00:01Z"))
    pd_post(client, pd_event("E2", "incident.resolved", status="resolved", occurred_at="2026-10-12T10:00:00Z"))

    again = pd_post(client, pd_event("E3", "incident.triggered", occurred_at="2026-10-12T11:00:00Z"))

    assert again.json()["note"] == "incident reopened"
    incident = Incident.objects.get(organization=org)
    assert incident.status == IncidentStatus.OPEN and incident.resolved_at is None


def test_an_opsgenie_create_delivered_after_its_close_changes_nothing(client, org, secrets):
    og_post(client, og_event("Close"))

    assert og_post(client, og_event("Create")).json()["note"] == "incident unchanged"
    assert Incident.objects.get(organization=org).status == IncidentStatus.RESOLVED
