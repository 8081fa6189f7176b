"""Echoes' Signal Releases API at /v1/signals/ (seeds/echoes-releases-api.txt)."""

import json
from datetime import UTC, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from deployments.models import Deployment, Environment
from releases.models import Release
from tests.compat import comparable, metric_counts, only_result
from tests.factories import EnvironmentFactory, ReleaseFactory, issue_token

pytestmark = pytest.mark.django_db

SHA1 = "a" * 40
SHA2 = "b" * 40
TAG = "c" * 40


def echoes_date(when) -> str:
    when = when.astimezone(UTC)
    return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}Z"


def doc_payload(**overrides) -> dict:
    """The doc's body parameters, all of them."""
    payload = {
        "version": "1.2.0",
        "commits": [SHA1, SHA2],
        "name": "Spring release",
        "ref": TAG,
        "date": "2024-05-01T12:00:00.000Z",
        "deliverables": ["api", "web"],
    }
    payload.update(overrides)
    return payload


def post(client, payload, path="/v1/signals/releases", **extra):
    body = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    return client.post(path, body, content_type="application/json", **extra)


def patch(client, path, payload):
    return client.patch(path, json.dumps(payload), content_type="application/json")


# Create ---------------------------------------------------------------------------------------


def test_the_doc_example_creates_a_release_and_a_production_deployment(api, org):
    response = post(api, doc_payload())

    assert response.status_code == 201
    body = response.json()
    release = Release.objects.get(organization=org, version="1.2.0")
    assert body["id"] == str(release.public_id)
    assert response["Location"] == f"http://testserver/v1/signals/releases/{release.public_id}"
    assert body["date"] == "2024-05-01T12:00:00.000Z"
    assert body["commits"] == [SHA1, SHA2]
    assert body["deliverables"] == ["api", "web"]
    assert (release.name, release.ref, release.source, release.status) == ("Spring release", TAG, "echoes", "pending")
    assert sorted(release.projects.values_list("name", flat=True)) == ["api", "web"]
    deployment = Deployment.objects.get(organization=org, release=release)
    assert deployment.environment.name == "production"
    assert deployment.environment.is_production
    assert deployment.status == "in_progress"
    assert deployment.source == "echoes"
    assert deployment.started_at == deployment.deployed_at == release.date_released


def test_the_identical_payload_again_answers_303_to_the_same_release(api, org):
    first = post(api, doc_payload())
    again = post(api, doc_payload())

    assert again.status_code == 303
    assert again["Location"] == first["Location"]
    assert again.json()["id"] == first.json()["id"]
    assert Release.objects.filter(organization=org).count() == 1
    assert Deployment.objects.filter(organization=org).count() == 1


def test_a_retry_without_a_date_is_still_identical(api, org):
    payload = doc_payload()
    del payload["date"]
    first = post(api, payload)
    again = post(api, payload)

    assert (first.status_code, again.status_code) == (201, 303)
    release = Release.objects.get(organization=org)
    # The date defaults to the time of reception.
    assert abs(release.date_released - timezone.now()) < timedelta(minutes=1)
    assert first.json()["date"] == echoes_date(release.date_released)


def test_an_http_client_following_the_303_gets_the_release(api):
    post(api, doc_payload())
    again = post(api, doc_payload())
    # What requests, curl -L and browsers do with a 303: GET the Location.
    response = api.get(again["Location"])

    assert response.status_code == 200
    assert response.json()["version"] == "1.2.0"
    assert response.json()["id"] == again.json()["id"]


def test_the_same_version_with_another_payload_is_a_409_naming_what_differs(api):
    post(api, doc_payload())
    response = post(api, doc_payload(deliverables=["worker"], date="2024-05-02T12:00:00.000Z"))

    assert response.status_code == 409
    message = response.json()["error"]
    assert "deliverables" in message and "date" in message


def test_the_newer_deployments_path_is_the_same_signal(api, org):
    response = post(api, doc_payload(), path="/v1/signals/deployments")

    assert response.status_code == 201
    release = Release.objects.get(organization=org)
    assert response["Location"] == f"http://testserver/v1/signals/deployments/{release.public_id}"
    status = api.post(
        f"/v1/signals/deployments/{release.public_id}/status",
        json.dumps({"status": "failure"}),
        content_type="application/json",
    )
    assert status.status_code == 200
    assert Deployment.objects.get(release=release).status == "failure"


def test_it_uses_an_existing_production_environment_with_another_name(api, org):
    EnvironmentFactory(organization=org, name="prod")
    EnvironmentFactory(organization=org, name="staging")

    post(api, doc_payload())

    assert Deployment.objects.get(organization=org).environment.name == "prod"
    assert not Environment.objects.filter(organization=org, name="production").exists()


@pytest.mark.parametrize(
    "date",
    ["2024-05-01T12:00:00.000Z", "+002024-05-01T12:00:00.000Z"],
)
def test_it_accepts_both_date_forms_of_the_doc(api, org, date):
    assert post(api, doc_payload(date=date)).status_code == 201
    assert Release.objects.get(organization=org).date_released.isoformat() == "2024-05-01T12:00:00+00:00"


@pytest.mark.parametrize(
    "date",
    [
        "2024-05-01T12:00:00Z",  # no milliseconds
        "2024-05-01T12:00:00.000+02:00",  # not UTC
        "2024-05-01 12:00:00.000Z",
        "2024-02-30T12:00:00.000Z",
        "2024-05-01",
        1714564800,
    ],
)
def test_it_refuses_dates_not_in_the_docs_format(api, date):
    response = post(api, doc_payload(date=date))

    assert response.status_code == 400
    assert response.json()["error"].startswith("date:")


def test_it_refuses_a_date_far_in_the_future(api):
    future = echoes_date(timezone.now() + timedelta(days=3))
    response = post(api, doc_payload(date=future))

    assert response.status_code == 400
    assert response.json() == {"error": "date: is more than a day in the future"}


# Status ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["success", "failure"])
def test_patch_sets_the_outcome_on_the_release_and_its_deployment(api, org, outcome):
    release_id = post(api, doc_payload()).json()["id"]

    response = patch(api, f"/v1/signals/releases/{release_id}", {"status": outcome})

    assert response.status_code == 200
    assert response.json()["status"] == outcome
    release = Release.objects.get(organization=org)
    deployment = Deployment.objects.get(release=release)
    assert release.status == deployment.status == outcome
    assert deployment.finished_at is not None
    assert list(deployment.status_changes.values_list("status", flat=True)) == ["in_progress", outcome]


def test_patch_on_a_release_created_elsewhere_records_its_production_deployment(api, org):
    release = ReleaseFactory(organization=org, version="9.9.9")

    response = patch(api, f"/v1/signals/releases/{release.public_id}", {"status": "success"})

    assert response.status_code == 200
    deployment = Deployment.objects.get(release=release)
    assert (deployment.environment.name, deployment.status) == ("production", "success")


@pytest.mark.parametrize("body", [{}, {"status": "succeeded"}, {"status": "pending"}, {"status": None}])
def test_patch_refuses_a_status_other_than_success_or_failure(api, body):
    release_id = post(api, doc_payload()).json()["id"]

    response = patch(api, f"/v1/signals/releases/{release_id}", body)

    assert response.status_code == 400
    assert response.json()["error"].startswith("status:")


def test_unknown_malformed_and_other_organizations_ids_are_404(api, other_api):
    other_id = post(other_api, doc_payload()).json()["id"]

    for release_id in [other_id, "00000000-0000-0000-0000-000000000000", "not-a-uuid"]:
        response = patch(api, f"/v1/signals/releases/{release_id}", {"status": "success"})
        assert response.status_code == 404
        assert response.json() == {"error": f"release not found: {release_id}"}
    assert Release.objects.get(public_id=other_id).status == "pending"


# Auth and bad input ---------------------------------------------------------------------------


def test_it_needs_an_api_key(client, org):
    response = post(client, doc_payload())
    assert response.status_code == 401
    assert "Bearer" in response.json()["error"]
    assert post(client, doc_payload(), HTTP_AUTHORIZATION="Bearer rt_wrong").status_code == 401


def test_a_read_only_key_cannot_write(read_api, org):
    response = post(read_api, doc_payload())

    assert response.status_code == 403
    assert response.json() == {"error": "forbidden: this API key lacks the 'write' scope"}
    assert not Release.objects.exists()


def test_it_needs_no_csrf_token(org):
    _, clear = issue_token(org, scopes=["write"])
    client = Client(enforce_csrf_checks=True)

    assert post(client, doc_payload(), HTTP_AUTHORIZATION=f"Bearer {clear}").status_code == 201


@pytest.mark.parametrize(
    "payload, message",
    [
        ("{not json", "body: must be a JSON object"),
        ("[1, 2]", "body: must be a JSON object"),
        ("[" * 100_000, "body: must be a JSON object"),
        ({"commits": [], "deliverables": []}, "version: this field is required"),
        ({"version": "1", "deliverables": []}, "commits: this field is required"),
        ({"version": "1", "commits": []}, "deliverables: this field is required"),
        (doc_payload(version=12), "version: must be a string"),
        (doc_payload(commits="abc1234"), "commits: must be an array of strings"),
        (doc_payload(commits=["not-a-sha"]), "commits[0]: 'not-a-sha' is not a commit sha (7 to 64 hex digits)"),
        (doc_payload(deliverables=[1]), "deliverables: must be an array of strings"),
        (doc_payload(version="1.0\x00"), "version: must not contain NUL characters"),
        (doc_payload(name="x" * 10_000), "name: must be at most 200 characters (got 10000)"),
        (doc_payload(name=["x"]), "name: must be a string"),
        (doc_payload(deliverables=[f"d{n}" for n in range(101)]), "deliverables: at most 100 per release"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, payload, message):
    response = post(api, payload)

    assert response.status_code == 400
    assert response.json() == {"error": message}
    assert not Release.objects.exists()


def test_an_oversized_body_is_a_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = post(api, doc_payload(name="x" * 2000))

    assert response.status_code == 413
    assert "error" in response.json()


def test_other_methods_are_405(api):
    response = api.delete("/v1/signals/releases")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


# Same as native -------------------------------------------------------------------------------


def test_an_echoes_release_shows_in_the_native_api_like_the_same_event_sent_natively(api, other_api):
    when = (timezone.now() - timedelta(hours=1)).replace(microsecond=250_000)
    release_id = post(api, doc_payload(date=echoes_date(when))).json()["id"]
    patch(api, f"/v1/signals/releases/{release_id}", {"status": "success"})

    native = {
        "version": "1.2.0",
        "commits": [SHA1, SHA2],
        "name": "Spring release",
        "ref": TAG,
        "date_released": when.isoformat(),
        "projects": ["api", "web"],
    }
    created = other_api.post("/api/v1/releases/", native, format="json")
    assert created.status_code == 201
    deployment = other_api.post(
        "/api/v1/deployments/",
        {
            "environment": "production",
            "release": "1.2.0",
            "status": "in_progress",
            "started_at": when.isoformat(),
            "deployed_at": when.isoformat(),
        },
        format="json",
    ).json()
    other_api.patch(f"/api/v1/deployments/{deployment['id']}/", {"status": "success"}, format="json")
    other_api.patch(f"/api/v1/releases/{created.json()['id']}/", {"status": "success"}, format="json")

    assert comparable(only_result(api, "/api/v1/releases/")) == comparable(only_result(other_api, "/api/v1/releases/"))
    # finished_at (and what derives from it) is the time each PATCH arrived.
    drop = {"finished_at", "occurred_at", "duration_seconds"}
    ours = comparable(only_result(api, "/api/v1/deployments/"), drop=drop)
    theirs = comparable(only_result(other_api, "/api/v1/deployments/"), drop=drop)
    assert ours == theirs
    assert ours["status_history"] == ["in_progress", "success"]
    # ... and it counts in the DORA metrics exactly like the native one.
    assert metric_counts(api) == metric_counts(other_api)
    assert metric_counts(api)["deployment_frequency"] == {"count": 1}
