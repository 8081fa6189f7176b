"""iftrue's deployment endpoint at /compat/iftrue/v1/organization/deployment (seeds/iftrue-*.txt)."""

import json
import uuid

import pytest
from django.test import Client

from deployments.models import Deployment
from releases.models import Repository
from tests.compat import comparable, metric_counts, only_result
from tests.factories import EnvironmentFactory, issue_token

pytestmark = pytest.mark.django_db

URL = "/compat/iftrue/v1/organization/deployment"
SHA = "9f2c1a7b3e4d5f60718293a4b5c6d7e8f9012345"


def doc_payload(**overrides) -> dict:
    """Every field of the doc's request table."""
    payload = {
        "title": "Release 2024.05.01",
        "changelog": "- Faster checkout\n- Fix login redirect",
        "url": "https://github.com/acme/shop/releases/tag/v2024.05.01",
        "branch": "release/2024.05.01",
        "commit_id": SHA,
        "deployment_duration": 12.5,
        "is_fix": True,
        "is_hotfix": False,
        "is_forced": False,
        "commits_count": 7,
        "repository_url": "https://github.com/acme/shop",
        "member_id": "octocat",
        "pull_request_number": 4711,
        "deployment_node_id": "DE_kwDOAbc123",
        "status": "succes",
    }
    payload.update(overrides)
    return {key: value for key, value in payload.items() if value is not ...}


def required_only() -> dict:
    return {
        "title": "Deploy",
        "branch": "main",
        "commit_id": SHA,
        "repository_url": "https://github.com/acme/shop",
        "member_id": "octocat",
        "pull_request_number": 12,
    }


def post(client, payload, **extra):
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return client.post(URL, body, content_type="application/json", **extra)


def test_the_doc_request_answers_the_docs_deployment_record(api, org):
    response = post(api, doc_payload())

    assert response.status_code == 201
    body = response.json()
    deployment = Deployment.objects.get(organization=org)
    repository = Repository.objects.get(organization=org)
    assert set(body) == {
        "id",
        "triggered_by",
        "title",
        "changelog",
        "is_hotfix",
        "is_forced",
        "commits_count",
        "organization_id",
        "repository_id",
        "pusher_id",
        "created_at",
        "updated_at",
        "status",
        "url",
        "branch",
        "commit_id",
        "deployment_duration",
        "node_id",
        "is_fix",
    }
    assert body["id"] == str(deployment.public_id)
    assert body["organization_id"] == str(org.public_id)
    assert body["repository_id"] == str(repository.public_id)
    assert (repository.name, repository.url) == ("acme/shop", "https://github.com/acme/shop")
    assert uuid.UUID(body["pusher_id"])
    assert body["status"] == "succes"
    assert (body["commit_id"], body["node_id"], body["commits_count"]) == (SHA, "DE_kwDOAbc123", 7)
    # Sent in minutes, answered in seconds, as the doc has it.
    assert body["deployment_duration"] == 750
    assert deployment.duration_seconds == 750
    assert (deployment.environment.name, deployment.status, deployment.source) == ("production", "success", "iftrue")
    assert (deployment.member, deployment.pull_request_number, deployment.is_fix) == ("octocat", 4711, True)


def test_optional_fields_take_the_docs_defaults(api, org):
    response = post(api, required_only())

    assert response.status_code == 201
    body = response.json()
    assert (body["is_fix"], body["is_hotfix"], body["is_forced"]) == (False, False, False)
    assert (body["commits_count"], body["status"]) == (0, "succes")
    assert body["deployment_duration"] is None
    assert Deployment.objects.get(organization=org).status == "success"


@pytest.mark.parametrize("theirs, ours", [("succes", "success"), ("in_progress", "in_progress"), ("fail", "failure")])
def test_statuses_keep_the_docs_spelling(api, org, theirs, ours):
    response = post(api, doc_payload(status=theirs, deployment_node_id=...))

    assert response.json()["status"] == theirs
    assert Deployment.objects.get(organization=org).status == ours


@pytest.mark.parametrize("status", ["success", "failure", "done", 1])
def test_other_statuses_are_refused(api, status):
    response = post(api, doc_payload(status=status))

    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "message": "status: must be one of succes, in_progress, fail",
        "error": "Bad Request",
    }


@pytest.mark.parametrize(
    "field", ["title", "branch", "commit_id", "repository_url", "member_id", "pull_request_number"]
)
def test_each_required_field_is_required(api, field):
    payload = required_only()
    del payload[field]

    response = post(api, payload)

    assert response.status_code == 400
    assert response.json()["message"] == f"{field}: this field is required"
    assert not Deployment.objects.exists()


def test_the_same_report_again_is_the_same_deployment_unchanged(api, org):
    first = post(api, doc_payload())
    again = post(api, doc_payload())

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    deployment = Deployment.objects.get(organization=org)
    assert deployment.status_changes.count() == 1


# A pipeline that reports its deployment when it starts and again when it ends -----------------


@pytest.mark.parametrize(
    ("end", "counts"),
    [
        ("succes", {"deployment_frequency": {"count": 1}, "change_failure_rate": {"failed": 0, "total": 1}}),
        ("fail", {"deployment_frequency": {"count": 0}, "change_failure_rate": {"failed": 1, "total": 1}}),
    ],
)
def test_a_deployment_reported_at_its_start_and_its_end_counts_once_with_its_end_status(api, org, end, counts):
    started = post(api, doc_payload(status="in_progress"))
    assert started.status_code == 201
    assert started.json()["status"] == "in_progress"
    assert metric_counts(api)["change_failure_rate"] == {"failed": 0, "total": 0}  # not finished: counts nowhere

    ended = post(api, doc_payload(status=end))

    assert ended.status_code == 200
    body = ended.json()
    assert (body["id"], body["status"], body["node_id"]) == (started.json()["id"], end, "DE_kwDOAbc123")
    deployment = Deployment.objects.get(organization=org)
    assert deployment.updated_at > deployment.created_at
    assert [c.status for c in deployment.status_changes.all()] == [
        "in_progress",
        "success" if end == "succes" else "failure",
    ]
    assert deployment.started_at is not None and deployment.finished_at >= deployment.started_at
    measured = metric_counts(api)
    assert {name: measured[name] for name in counts} == counts


def test_a_retried_start_report_after_the_end_changes_nothing(api, org):
    post(api, doc_payload(status="in_progress"))
    ended = post(api, doc_payload(status="succes"))

    late = post(api, doc_payload(status="in_progress"))

    assert late.status_code == 200
    assert late.json() == ended.json()
    assert metric_counts(api)["deployment_frequency"] == {"count": 1}


def test_reports_without_a_deployment_node_id_are_separate_deployments(api, org):
    post(api, doc_payload(status="in_progress", deployment_node_id=...))
    post(api, doc_payload(status="succes", deployment_node_id=...))

    assert Deployment.objects.filter(organization=org).count() == 2


def test_a_path_iftrue_does_not_serve_is_a_404_in_nestjs_shape(api, client):
    for answered_to in (api, client):
        response = answered_to.post("/compat/iftrue/v1/organization/deployments", "{}", content_type="application/json")

        assert response.status_code == 404
        assert response.json() == {
            "statusCode": 404,
            "message": "Cannot POST /compat/iftrue/v1/organization/deployments",
            "error": "Not Found",
        }


def test_it_records_into_an_existing_production_environment(api, org):
    EnvironmentFactory(organization=org, name="prod")

    post(api, required_only())

    assert Deployment.objects.get(organization=org).environment.name == "prod"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"commit_id": "not a sha"}, "commit_id: 'not a sha' is not a commit sha (7 to 64 hex digits)"),
        ({"pull_request_number": "12"}, "pull_request_number: must be a whole number"),
        ({"pull_request_number": -1}, "pull_request_number: is out of range"),
        ({"pull_request_number": 10**12}, "pull_request_number: is out of range"),
        ({"deployment_duration": "5"}, "deployment_duration: must be a number"),
        ({"deployment_duration": 10**9}, "deployment_duration: is out of range"),
        ({"is_hotfix": "true"}, "is_hotfix: must be true or false"),
        ({"commits_count": 1.5}, "commits_count: must be a whole number"),
        ({"repository_url": "github.com/acme"}, "repository_url: must be an http(s) URL"),
        ({"url": "javascript:alert(1)"}, "url: must be an http(s) URL"),
        ({"title": ["x"]}, "title: must be a string"),
        ({"title": "x" * 501}, "title: must be at most 500 characters (got 501)"),
        ({"branch": "main\x00"}, "branch: must not contain NUL characters"),
    ],
)
def test_bad_values_are_400s_naming_the_field(api, overrides, message):
    response = post(api, doc_payload(**overrides))

    assert response.status_code == 400
    assert response.json() == {"statusCode": 400, "message": message, "error": "Bad Request"}
    assert not Deployment.objects.exists()


@pytest.mark.parametrize("body", ["{", "[]", "null", "[" * 50_000])
def test_malformed_bodies_are_400s(api, body):
    response = post(api, body)

    assert response.status_code == 400
    assert response.json()["message"] == "body: must be a JSON object"


def test_it_needs_a_valid_token(client, org):
    response = post(client, required_only())
    assert response.status_code == 401
    assert response.json()["statusCode"] == 401
    assert post(client, required_only(), HTTP_AUTHORIZATION="Bearer rt_nope").status_code == 401


def test_a_read_token_cannot_write(read_api):
    response = post(read_api, required_only())

    assert response.status_code == 403
    assert response.json()["error"] == "Forbidden"


def test_it_needs_no_csrf_token(org):
    _, clear = issue_token(org, scopes=["write"])

    response = post(Client(enforce_csrf_checks=True), required_only(), HTTP_AUTHORIZATION=f"Bearer {clear}")

    assert response.status_code == 201


def test_only_post_is_allowed(api):
    response = api.get(URL)

    assert response.status_code == 405
    assert response.json()["statusCode"] == 405


def test_an_iftrue_deployment_shows_in_the_native_api_like_the_same_event_sent_natively(api, other_api):
    post(api, doc_payload())
    native = {
        "environment": "production",
        "commit_sha": SHA,
        "status": "success",
        "duration_seconds": 750,
        "title": "Release 2024.05.01",
        "changelog": "- Faster checkout\n- Fix login redirect",
        "url": "https://github.com/acme/shop/releases/tag/v2024.05.01",
        "branch": "release/2024.05.01",
        "is_fix": True,
        "external_id": "DE_kwDOAbc123",
        "member": "octocat",
        "pull_request_number": 4711,
        "repository_url": "https://github.com/acme/shop",
        "commits_count": 7,
    }
    assert other_api.post("/api/v1/deployments/", native, format="json").status_code == 201

    drop = {"finished_at", "occurred_at"}  # the time each request arrived
    ours = comparable(only_result(api, "/api/v1/deployments/"), drop=drop)
    assert ours == comparable(only_result(other_api, "/api/v1/deployments/"), drop=drop)
    assert ours["is_production"] is True
    assert metric_counts(api) == metric_counts(other_api)
    assert metric_counts(api)["rework_rate"] == {"rework": 1, "total": 1}
