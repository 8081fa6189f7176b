"""Native API for incidents: every status and error, idempotency, resolving, filters, scopes, tenancy."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from deployments.services import deployment_record
from incidents.models import Incident, IncidentStatus
from incidents.services import incident_create

URL = "/api/v1/incidents/"
SHA = "d" * 40
T0 = datetime(2026, 10, 12, 9, 0, tzinfo=UTC)


def post(client, body, **headers):
    return client.post(URL, json.dumps(body), content_type="application/json", **headers)


def patch(client, incident_id, body):
    return client.patch(f"{URL}{incident_id}/", json.dumps(body), content_type="application/json")


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and body["error"]
    if field is not None:
        assert field in body["fields"], body
        assert body["error"].startswith(f"{field}: ") or f"; {field}: " in body["error"], body["error"]
    return body


@pytest.fixture
def deployment(org):
    deployment, _ = deployment_record(organization=org, environment="production", commit_sha=SHA, project="api")
    return deployment


def test_it_records_an_incident_with_201_and_its_location(api, deployment):
    response = post(
        api,
        {
            "title": "Checkout returns 500",
            "severity": "SEV1",
            "started_at": "2026-10-12T09:00:00Z",
            "deployment": str(deployment.public_id),
            "project": "api",
            "commit_sha": SHA,
            "url": "https://status.example.com/incidents/1",
            "external_id": "INC-1",
        },
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert response["Location"] == f"{URL}{body['id']}/"
    assert body["status"] == "open" and body["resolved_at"] is None
    assert body["environment"] == "production" and body["is_production"] is True
    assert body["deployment"] == str(deployment.public_id) and body["project"] == "api"
    assert body["severity"] == "SEV1" and body["source"] == "api" and body["created_by"].startswith("token ci-write")


def test_the_environment_defaults_to_production(api):
    body = post(api, {"title": "x"}).json()

    assert body["environment"] == "production" and body["started_at"]


def test_the_same_external_id_and_payload_again_is_a_303_to_the_first(api):
    payload = {"title": "DB slow", "external_id": "INC-7", "started_at": "2026-10-12T09:00:00Z"}
    first = post(api, payload)

    again = post(api, payload)

    assert again.status_code == 303
    assert again["Location"] == first["Location"] and again.json()["id"] == first.json()["id"]
    assert Incident.objects.count() == 1


def test_the_same_external_id_with_another_payload_is_a_409(api):
    post(api, {"title": "DB slow", "external_id": "INC-7", "started_at": "2026-10-12T09:00:00Z"})

    response = post(api, {"title": "DB down", "external_id": "INC-7", "started_at": "2026-10-12T09:00:00Z"})

    body = assert_error(response, 409, "conflict")
    assert body["error"].startswith("external_id: incident 'INC-7' already exists with different title")
    assert body["fields"] == {"title": ["differs from the existing incident"]}


def test_an_idempotency_key_replays_the_first_answer(api):
    first = post(api, {"title": "x"}, HTTP_IDEMPOTENCY_KEY="k-1")
    again = post(api, {"title": "x"}, HTTP_IDEMPOTENCY_KEY="k-1")
    reused = post(api, {"title": "y"}, HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert_error(reused, 422, "idempotency_key_reused", "Idempotency-Key")
    assert Incident.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": 5}, "title"),
        ({"title": "x", "status": "closed"}, "status"),
        ({"title": "x", "started_at": "yesterday"}, "started_at"),
        ({"title": "x", "started_at": "2026-10-12T09:00:00"}, "started_at"),
        ({"title": "x", "started_at": "2026-10-12T09:00:00Z", "resolved_at": "2026-10-12T08:00:00Z"}, "resolved_at"),
        ({"title": "x", "status": "open", "resolved_at": "2026-10-12T10:00:00Z"}, "resolved_at"),
        ({"title": "x", "url": "javascript:alert(1)"}, "url"),
        ({"title": "x", "commit_sha": "main"}, "commit_sha"),
        ({"title": "x", "deployment": "not-a-uuid"}, "deployment"),
        ({"title": "x", "deployment": "00000000-0000-4000-8000-000000000000"}, "deployment"),
        ({"title": "x", "stauts": "open"}, "stauts"),
        ({"title": "x" * 501}, "title"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(api, body, field):
    assert_error(post(api, body), 400, "validation_error", field)
    assert not Incident.objects.exists()


def test_another_organizations_deployment_is_refused_as_a_missing_one(api, other_org):
    theirs, _ = deployment_record(organization=other_org, environment="production", commit_sha=SHA)

    body = assert_error(post(api, {"title": "x", "deployment": str(theirs.public_id)}), 400, "validation_error")

    assert body["fields"] == {"deployment": ["no such deployment in this organization"]}


def test_a_read_token_reads_but_does_not_write(read_api, org):
    incident, _ = incident_create(organization=org, title="x", started_at=T0)

    assert read_api.get(URL).status_code == 200
    assert read_api.get(f"{URL}{incident.public_id}/").status_code == 200
    assert_error(post(read_api, {"title": "y"}), 403, "permission_denied")
    assert_error(patch(read_api, incident.public_id, {"status": "resolved"}), 403, "permission_denied")


def test_without_a_token_it_is_a_401(db):
    assert_error(APIClient().get(URL), 401, "not_authenticated")
    assert_error(APIClient().post(URL, {"title": "x"}, format="json"), 401, "not_authenticated")


def test_another_organizations_incident_is_a_404_as_a_missing_one(api, other_org):
    theirs, _ = incident_create(organization=other_org, title="x", started_at=T0)

    assert_error(api.get(f"{URL}{theirs.public_id}/"), 404, "not_found")
    assert_error(patch(api, theirs.public_id, {"status": "resolved"}), 404, "not_found")
    assert_error(api.get(f"{URL}not-an-id/"), 404, "not_found")
    assert api.get(URL).json()["results"] == []


def test_resolving_defaults_resolved_at_to_now(api, org):
    incident, _ = incident_create(organization=org, title="x", started_at=T0)

    response = patch(api, incident.public_id, {"status": "resolved"})

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "resolved"
    assert datetime.fromisoformat(body["resolved_at"].replace("Z", "+00:00")) > T0


def test_resolving_at_a_given_time_and_reopening(api, org):
    incident, _ = incident_create(organization=org, title="x", started_at=T0)

    body = patch(api, incident.public_id, {"status": "resolved", "resolved_at": "2026-10-12T11:00:00Z"}).json()
    assert body["resolved_at"] == "2026-10-12T11:00:00Z"

    body = patch(api, incident.public_id, {"status": "open"}).json()
    assert body["status"] == "open" and body["resolved_at"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "resolved", "resolved_at": "2026-10-12T08:59:59Z"}, "resolved_at"),
        ({"status": "done"}, "status"),
        ({"title": ""}, "title"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"resolved": True}, "resolved"),
        ({"environment": ""}, "environment"),
    ],
)
def test_a_bad_change_is_a_400_and_changes_nothing(api, org, body, field):
    incident, _ = incident_create(organization=org, title="x", started_at=T0)

    assert_error(patch(api, incident.public_id, body), 400, "validation_error", field)

    incident.refresh_from_db()
    assert incident.status == IncidentStatus.OPEN and incident.title == "x"


def test_linking_a_deployment_later(api, org, deployment):
    incident, _ = incident_create(organization=org, title="x", started_at=T0)

    body = patch(api, incident.public_id, {"deployment": str(deployment.public_id), "severity": "P2"}).json()

    assert body["deployment"] == str(deployment.public_id) and body["severity"] == "P2"


@pytest.fixture
def listed(org):
    incident_create(organization=org, title="a", started_at=T0, environment="staging")
    incident_create(organization=org, title="b", started_at=T0 + timedelta(days=1), project="web")
    incident_create(
        organization=org, title="c", started_at=T0 + timedelta(days=2), resolved_at=T0 + timedelta(days=2, hours=1)
    )


@pytest.mark.parametrize(
    ("query", "titles"),
    [
        ("", ["c", "b", "a"]),
        ("status=open", ["b", "a"]),
        ("status=resolved", ["c"]),
        ("environment=staging", ["a"]),
        ("project=web", ["b"]),
        ("since=2026-10-13T00:00:00Z", ["c", "b"]),
        ("until=2026-10-13T00:00:00Z", ["a"]),
    ],
)
def test_the_list_filters(api, listed, query, titles):
    response = api.get(f"{URL}?{query}")

    assert response.status_code == 200
    assert [row["title"] for row in response.json()["results"]] == titles


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("status=closed", "status"),
        ("since=yesterday", "since"),
        ("until=2026-10-13T00:00:00", "until"),
        ("page_size=abc", "page_size"),
        ("cursor=garbage", "cursor"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(api, query, parameter):
    assert_error(api.get(f"{URL}?{query}"), 400, "validation_error", parameter)


def test_the_list_pages_with_a_cursor(api, listed):
    first = api.get(f"{URL}?page_size=2").json()
    second = api.get(first["next"]).json()

    assert [row["title"] for row in first["results"] + second["results"]] == ["c", "b", "a"]


@pytest.mark.parametrize("field", ["title", "severity", "environment", "project", "commit_sha", "url", "external_id"])
def test_a_nul_byte_in_any_string_is_a_400_naming_it(api, field):
    assert_error(post(api, {"title": "x", field: "a\x00b"}), 400, "validation_error", field)
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [b'{"title": "x",', b"[" * 100_000 + b"]" * 100_000, b"[]", b"null"],
    ids=["truncated", "deep", "list", "null"],
)
def test_a_body_that_is_not_a_json_object_is_a_400(api, raw):
    response = api.generic("POST", URL, raw, content_type="application/json")

    assert response.status_code == 400 and response.json()["error"].startswith("body")
    assert not Incident.objects.exists()


def test_a_nul_byte_in_the_id_is_a_400_naming_the_path(api):
    # Refused before any lookup, as everywhere (releasetracker.middleware.NulRefusalMiddleware).
    response = api.get(f"{URL}%00/")
    assert_error(response, 400, "validation_error")
    assert "path" in response.json()["fields"]
