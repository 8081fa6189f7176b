"""Echoes' Signal Releases API at /v1/signals/ (seeds/echoes-releases-api.txt)."""

import json
from datetime import UTC, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from deployments.models import Deployment, Environment
from releases.models import Release
from tests.compat import comparable, metric_counts, only_result
from tests.factories import CommitFactory, EnvironmentFactory, ReleaseFactory, issue_token

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


def test_the_doc_example_creates_a_release_and_a_successful_production_deployment_at_its_date(api, org):
    response = post(api, doc_payload())

    assert response.status_code == 201
    body = response.json()
    release = Release.objects.get(organization=org, version="1.2.0")
    assert (body["status"], body["id"]) == (201, str(release.public_id))
    assert response["Location"] == body["location"] == f"http://testserver/v1/signals/releases/{release.public_id}"
    assert body["date"] == "2024-05-01T12:00:00.000Z"
    assert body["commits"] == [SHA1, SHA2]
    assert body["deliverables"] == ["api", "web"]
    assert body["outcome"] == "pending"
    assert (release.name, release.ref, release.source, release.status) == ("Spring release", TAG, "echoes", "pending")
    assert sorted(release.projects.values_list("name", flat=True)) == ["api", "web"]
    deployment = Deployment.objects.get(organization=org, release=release)
    assert deployment.environment.name == "production"
    assert deployment.environment.is_production
    # A declaration is a deployment (Echoes: "used in deployment frequency and lead time").
    assert deployment.status == "success"
    assert deployment.source == "echoes"
    assert deployment.finished_at == deployment.deployed_at == deployment.occurred_at == release.date_released
    assert deployment.started_at is None
    assert [(c.status, c.at) for c in deployment.status_changes.all()] == [("success", release.date_released)]
    assert body["deployment"] == {
        "environment": "production",
        "status": "success",
        "started_at": None,
        "finished_at": "2024-05-01T12:00:00.000Z",
    }


def test_lists_sent_as_one_item_are_split_as_the_deployments_action_sends_them(api, org):
    # The action's inputs are newline- or comma-separated; it joins the lines with spaces.
    response = post(api, doc_payload(commits=[f"{SHA1} {SHA2}"], deliverables=["api web", "worker,cron"]))

    assert response.status_code == 201
    assert response.json()["commits"] == [SHA1, SHA2]
    assert response.json()["deliverables"] == ["api", "cron", "web", "worker"]


def test_the_url_the_deployments_action_sends_is_the_releases_url(api, org):
    url = "https://github.com/acme/shop/releases/tag/v1.2.0"

    response = post(api, doc_payload(url=url))

    assert response.status_code == 201
    assert response.json()["url"] == url
    assert Release.objects.get(organization=org).url == url
    # The same declaration with its url again is the same declaration.
    assert post(api, doc_payload(url=url)).status_code == 303


@pytest.mark.parametrize("url", ["", None])
def test_an_empty_url_is_no_url(api, org, url):
    # The action sends "url": "" when it has none.
    assert post(api, doc_payload(url=url)).status_code == 201
    assert Release.objects.get(organization=org).url == ""


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "url: must be a URL, for example https://github.com/acme/api/releases/tag/v1.2.0"),
        ("javascript:alert(1)", "url: must be a URL, for example https://github.com/acme/api/releases/tag/v1.2.0"),
        (["https://example.com"], "url: must be a string"),
        ("https://example.com/" + "x" * 500, "url: must be at most 500 characters (got 520)"),
    ],
)
def test_a_url_that_is_not_one_is_refused(api, url, message):
    response = post(api, doc_payload(url=url))

    assert response.status_code == 400
    assert response.json() == {"status": 400, "error": message}
    assert not Release.objects.exists()


def test_the_identical_payload_again_answers_303_to_the_same_release(api, org):
    first = post(api, doc_payload())
    again = post(api, doc_payload())

    assert again.status_code == 303
    assert again["Location"] == first["Location"]
    assert (again.json()["status"], again.json()["id"]) == (303, first.json()["id"])
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
    assert response.json()["status"] == 200
    assert response.json()["version"] == "1.2.0"
    assert response.json()["id"] == again.json()["id"]
    assert "Location" not in response


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
    assert response.json() == {"status": 400, "error": "date: is more than a day in the future"}


# What counts in the DORA metrics ---------------------------------------------------------------
# The calls EchoesHQ/deployments-action makes: post-deploy, then (optionally) post-status.


def action_post_deploy(client, **overrides):
    body = {
        "version": "2024.05.01-1",
        "commits": [SHA1, SHA2],
        "deliverables": ["shop"],
        "url": "https://github.com/acme/shop/releases/tag/2024.05.01-1",
        **overrides,
    }
    return client.post(
        "/v1/signals/deployments", json.dumps(body), content_type="application/json", HTTP_ACCEPT="application/json"
    )


def action_post_status(client, deployment_id: str, status: str):
    return client.post(
        f"/v1/signals/deployments/{deployment_id}/status",
        json.dumps({"status": status}),
        content_type="application/json",
    )


@pytest.fixture
def authored_three_hours_ago(org):
    """The declared commits, as the tracker knows them from git (a push, an import) before the deploy."""
    for sha in (SHA1, SHA2):
        CommitFactory(organization=org, sha=sha, timestamp=timezone.now() - timedelta(hours=3))


def dora(client) -> dict:
    now = timezone.now()
    params = {"since": (now - timedelta(days=1)).isoformat(), "until": (now + timedelta(minutes=1)).isoformat()}
    response = client.get("/api/v1/metrics/dora/", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_declaration_without_a_status_counts_in_deployment_frequency_and_lead_time(api, authored_three_hours_ago):
    assert action_post_deploy(api).status_code == 201

    counts = metric_counts(api)
    assert counts["deployment_frequency"] == {"count": 1}
    assert counts["lead_time"] == {"commits": 2}
    assert counts["change_failure_rate"] == {"failed": 0, "total": 1}
    assert abs(dora(api)["lead_time"]["median_seconds"] - 3 * 3600) < 60


def test_a_declaration_counts_at_its_date(api, authored_three_hours_ago):
    two_hours_ago = timezone.now() - timedelta(hours=2)
    assert action_post_deploy(api, date=echoes_date(two_hours_ago)).status_code == 201

    assert metric_counts(api)["deployment_frequency"] == {"count": 1}
    assert abs(dora(api)["lead_time"]["median_seconds"] - 3600) < 60
    before = metric_counts(api, until=(two_hours_ago - timedelta(minutes=1)).isoformat())
    assert before["deployment_frequency"] == {"count": 0}


def test_a_failure_posted_later_counts_in_the_change_failure_rate(api, authored_three_hours_ago):
    deployment_id = action_post_deploy(api).json()["id"]

    response = action_post_status(api, deployment_id, "failure")

    assert response.status_code == 200
    counts = metric_counts(api)
    assert counts["change_failure_rate"] == {"failed": 1, "total": 1}
    assert counts["recovery_time"] == {"recovered": 0, "unrecovered": 1}
    # A failed deployment is no deployment in the frequency, and starts no lead time.
    assert counts["deployment_frequency"] == {"count": 0}
    assert counts["lead_time"] == {"commits": 0}


def test_the_next_declaration_recovers_a_failed_one(api, authored_three_hours_ago):
    failed_id = action_post_deploy(api).json()["id"]
    action_post_status(api, failed_id, "failure")

    assert action_post_deploy(api, version="2024.05.01-2", commits=["d" * 40]).status_code == 201

    counts = metric_counts(api)
    assert counts["change_failure_rate"] == {"failed": 1, "total": 2}
    assert counts["recovery_time"] == {"recovered": 1, "unrecovered": 0}


def test_a_success_posted_later_confirms_what_was_counted(api, authored_three_hours_ago):
    deployment_id = action_post_deploy(api).json()["id"]
    declared = metric_counts(api)

    response = action_post_status(api, deployment_id, "success")

    assert response.status_code == 200
    assert response.json()["outcome"] == "success"
    assert metric_counts(api) == declared


# Status ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("outcome", "history"), [("success", ["success"]), ("failure", ["success", "failure"])])
def test_patch_sets_the_outcome_on_the_release_and_its_deployment_at_its_date(api, org, outcome, history):
    release_id = post(api, doc_payload()).json()["id"]

    response = patch(api, f"/v1/signals/releases/{release_id}", {"status": outcome})

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["outcome"], body["deployment"]["status"]) == (200, outcome, outcome)
    release = Release.objects.get(organization=org)
    deployment = Deployment.objects.get(release=release)
    assert release.status == deployment.status == outcome
    # The outcome says what the deployment was, not when: it stays at the release date.
    assert deployment.finished_at == deployment.occurred_at == release.date_released
    assert list(deployment.status_changes.values_list("status", flat=True)) == history


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
        assert response.json() == {"status": 404, "error": f"release not found: {release_id}"}
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
    assert response.json() == {"status": 403, "error": "forbidden: this API key lacks the 'write' scope"}
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
        (doc_payload(deliverables=["web", " "]), "deliverables[1]: this field is required"),
        (doc_payload(commits=[SHA1, ""]), "commits[1]: '' is not a commit sha (7 to 64 hex digits)"),
        (doc_payload(commits=[f"{SHA1} nope"]), "commits[0]: 'nope' is not a commit sha (7 to 64 hex digits)"),
        (doc_payload(version="1.0\x00"), "version: must not contain NUL characters"),
        (doc_payload(name="x" * 10_000), "name: must be at most 200 characters (got 10000)"),
        (doc_payload(name=["x"]), "name: must be a string"),
        (doc_payload(deliverables=[f"d{n}" for n in range(101)]), "deliverables: at most 100 per release"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, payload, message):
    response = post(api, payload)

    assert response.status_code == 400
    assert response.json() == {"status": 400, "error": message}
    assert not Release.objects.exists()


def test_an_oversized_body_is_a_413_in_echoes_shape(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = post(api, doc_payload(name="x" * 2000))

    assert response.status_code == 413
    assert response.json() == {"status": 413, "error": "body: the request body is too large (at most 1000 bytes)"}


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH"])
@pytest.mark.parametrize("path", ["/v1/signals/releases/1/extra", "/v1/signals/", "/v1/signals/nope"])
def test_a_path_echoes_does_not_serve_is_a_404_in_echoes_shape(api, client, method, path):
    for answered_to in (api, client):  # with a key or without
        response = answered_to.generic(method, path, "{}", content_type="application/json")

        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": f"{method} {path} is not an endpoint of this API"}


def test_other_methods_are_405(api):
    response = api.delete("/v1/signals/releases")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


# Same as native -------------------------------------------------------------------------------


def test_an_echoes_release_shows_in_the_native_api_like_the_same_event_sent_natively(api, other_api):
    when = (timezone.now() - timedelta(hours=1)).replace(microsecond=250_000)
    url = "https://github.com/acme/shop/releases/tag/v1.2.0"
    release_id = post(api, doc_payload(date=echoes_date(when), url=url)).json()["id"]
    patch(api, f"/v1/signals/releases/{release_id}", {"status": "success"})

    native = {
        "version": "1.2.0",
        "commits": [SHA1, SHA2],
        "name": "Spring release",
        "ref": TAG,
        "url": url,
        "date_released": when.isoformat(),
        "projects": ["api", "web"],
    }
    created = other_api.post("/api/v1/releases/", native, format="json")
    assert created.status_code == 201
    deployed = other_api.post(
        "/api/v1/deployments/",
        {
            "environment": "production",
            "release": "1.2.0",
            "status": "success",
            "deployed_at": when.isoformat(),
            "finished_at": when.isoformat(),
        },
        format="json",
    )
    assert deployed.status_code == 201
    other_api.patch(f"/api/v1/releases/{created.json()['id']}/", {"status": "success"}, format="json")

    assert comparable(only_result(api, "/api/v1/releases/")) == comparable(only_result(other_api, "/api/v1/releases/"))
    ours = comparable(only_result(api, "/api/v1/deployments/"))
    assert ours == comparable(only_result(other_api, "/api/v1/deployments/"))
    assert ours["status_history"] == ["success"]
    # ... and it counts in the DORA metrics exactly like the native one.
    assert metric_counts(api) == metric_counts(other_api)
    assert metric_counts(api)["deployment_frequency"] == {"count": 1}
