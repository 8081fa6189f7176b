"""Multitudes' Deployments API at /compat/multitudes/deployments (seeds/multitudes-deployments-api.txt)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from deployments.models import Deployment
from releasetracker.services import token_regenerate, token_revoke
from tests.compat import comparable, metric_counts, only_result
from tests.factories import ReleaseCommitFactory, issue_token

pytestmark = pytest.mark.django_db

URL = "/compat/multitudes/deployments"
SHA = "1a2b3c4d5e6f708192a3b4c5d6e7f80912345678"
SHA2 = "8765432109f8e7d6c5b4a3928170f6e5d4c3b2a1"


@pytest.fixture
def key(write_token) -> str:
    return write_token[1]


def post(payload, key: str | None, *, raw: bool = False) -> "Client.post":
    """Multitudes' clients send the bare token as the Authorization header."""
    headers = {} if key is None else {"HTTP_AUTHORIZATION": key}
    body = payload if raw else json.dumps(payload)
    return Client().post(URL, body, content_type="application/json", **headers)


def test_the_doc_request_registers_a_deployment(org, key):
    payload = {
        "commitSha": SHA,
        "environmentName": "production",
        "deployedAt": "2024-05-01T12:00:00Z",
        "title": "Checkout v2",
        "tags": "is_fix, is_failure, sev1, product_launch",
    }

    response = post(payload, key)

    assert response.status_code == 201
    assert response.content.decode() == "Deploy registered successfully"
    deployment = Deployment.objects.get(organization=org)
    assert (deployment.commit_sha, deployment.environment.name, deployment.title) == (SHA, "production", "Checkout v2")
    assert deployment.deployed_at == deployment.finished_at == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert deployment.tags == ["is_fix", "is_failure", "sev1", "product_launch"]
    assert deployment.is_fix and not deployment.is_hotfix
    assert (deployment.status, deployment.source) == ("success", "multitudes")


def test_deployed_at_defaults_to_the_time_of_the_request(org, key):
    post({"commitSha": SHA, "environmentName": "production"}, key)

    deployment = Deployment.objects.get(organization=org)
    assert abs(deployment.deployed_at - timezone.now()) < timedelta(minutes=1)
    assert deployment.tags == []


def test_a_time_without_an_offset_is_utc_as_the_doc_defines(org, key):
    post({"commitSha": SHA, "environmentName": "production", "deployedAt": "2024-05-01T12:00:00"}, key)

    assert Deployment.objects.get(organization=org).deployed_at == datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_a_list_of_shas_is_one_deployment(org, key):
    response = post({"commitSha": [SHA, SHA2], "environmentName": "staging"}, key)

    assert response.status_code == 201
    deployment = Deployment.objects.get(organization=org)
    assert (deployment.commit_sha, deployment.commits_count) == (SHA, 2)
    assert not deployment.environment.is_production


def test_a_sha_of_a_known_release_deploys_that_release(org, key):
    link = ReleaseCommitFactory(release__organization=org, commit__sha=SHA)

    post({"commitSha": SHA, "environmentName": "production"}, key)

    assert Deployment.objects.get(organization=org).release == link.release


def test_the_bearer_form_works_too(org, key):
    response = Client().post(
        URL,
        json.dumps({"commitSha": SHA, "environmentName": "production"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )

    assert response.status_code == 201


@pytest.mark.parametrize(
    "payload, reason",
    [
        ({"environmentName": "production"}, "commitSha: is required"),
        ({"commitSha": [], "environmentName": "production"}, "commitSha: is required"),
        ({"commitSha": "abc12", "environmentName": "production"}, "commitSha: must be at least 7 characters"),
        ({"commitSha": [SHA, "abc"], "environmentName": "p"}, "commitSha[1]: must be at least 7 characters"),
        (
            {"commitSha": "zzzzzzzz", "environmentName": "p"},
            "commitSha: 'zzzzzzzz' is not a commit sha (7 to 64 hex digits)",
        ),
        ({"commitSha": 1234567, "environmentName": "p"}, "commitSha: must be a string or an array of strings"),
        ({"commitSha": SHA}, "environmentName: is required"),
        ({"commitSha": SHA, "environmentName": ["prod"]}, "environmentName: must be a string"),
        ({"commitSha": SHA, "environmentName": "x" * 101}, "environmentName: must be at most 100 characters (got 101)"),
        ({"commitSha": SHA, "environmentName": "prod\x00"}, "environmentName: must not contain NUL characters"),
        (
            {"commitSha": SHA, "environmentName": "p", "deployedAt": "yesterday"},
            "deployedAt: must be a UTC datetime in ISO 8601 format, for example 2024-05-01T12:00:00Z",
        ),
        (
            {"commitSha": SHA, "environmentName": "p", "deployedAt": "2999-01-01T00:00:00Z"},
            "deployedAt: is more than a day in the future",
        ),
        ({"commitSha": SHA, "environmentName": "p", "title": 5}, "title: must be a string"),
        (
            {"commitSha": SHA, "environmentName": "p", "title": "t" * 501},
            "title: must be at most 500 characters (got 501)",
        ),
        ({"commitSha": SHA, "environmentName": "p", "tags": {"a": 1}}, "tags: must be a comma-separated string"),
    ],
)
def test_bad_requests_are_400s_whose_reason_names_the_field(key, payload, reason):
    response = post(payload, key)

    assert response.status_code == 400
    assert response.content.decode() == f"Invalid request - {reason}"
    assert not Deployment.objects.exists()


@pytest.mark.parametrize("body", ["{", "[]", "", "[" * 50_000])
def test_malformed_bodies_are_400s(key, body):
    response = post(body, key, raw=True)

    assert response.status_code == 400
    assert response.content.decode() == "Invalid request - body: must be a JSON object"


@pytest.mark.parametrize("header", [None, "rt_notarealtoken", "Bearer rt_nope", "a b c"])
def test_a_key_that_is_not_valid_is_401(org, header):
    response = post({"commitSha": SHA, "environmentName": "production"}, header)

    assert response.status_code == 401
    assert response.content.decode().startswith("Unauthorized - API key not valid")


def test_a_revoked_key_is_403_and_its_regenerated_key_works(org, write_token):
    token, clear = write_token
    fresh = token_regenerate(organization=org, token=token)

    response = post({"commitSha": SHA, "environmentName": "production"}, clear)

    assert response.status_code == 403
    assert response.content.decode() == "Forbidden - API key has been revoked"
    assert post({"commitSha": SHA, "environmentName": "production"}, fresh.clear).status_code == 201


def test_an_expired_key_is_403(org):
    _, clear = issue_token(org, scopes=["write"], expires_at=timezone.now() - timedelta(days=1))

    response = post({"commitSha": SHA, "environmentName": "production"}, clear)

    assert response.status_code == 403
    assert response.content.decode() == "Forbidden - API key has expired"


def test_a_key_without_the_write_scope_is_403(org):
    _, clear = issue_token(org, scopes=["read"])

    response = post({"commitSha": SHA, "environmentName": "production"}, clear)

    assert response.status_code == 403
    assert not Deployment.objects.exists()


def test_another_organizations_revoked_key_writes_nothing_anywhere(org, other_org):
    token, clear = issue_token(other_org, scopes=["write"])
    token_revoke(organization=other_org, token=token)

    assert post({"commitSha": SHA, "environmentName": "production"}, clear).status_code == 403
    assert not Deployment.objects.exists()


def test_it_needs_no_csrf_token(key):
    response = Client(enforce_csrf_checks=True).post(
        URL,
        json.dumps({"commitSha": SHA, "environmentName": "production"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=key,
    )

    assert response.status_code == 201


def test_only_post_is_allowed(key):
    assert Client().get(URL, HTTP_AUTHORIZATION=key).status_code == 405


def test_a_multitudes_deployment_shows_in_the_native_api_like_the_same_event_sent_natively(api, key, other_api):
    when = "2024-05-01T12:00:00Z"
    post(
        {
            "commitSha": SHA,
            "environmentName": "production",
            "deployedAt": when,
            "title": "Checkout v2",
            "tags": "is_fix, sev1",
        },
        key,
    )
    native = {
        "environment": "production",
        "commit_sha": SHA,
        "status": "success",
        "deployed_at": when,
        "finished_at": when,
        "title": "Checkout v2",
        "tags": "is_fix, sev1",
    }
    assert other_api.post("/api/v1/deployments/", native, format="json").status_code == 201

    ours = comparable(only_result(api, "/api/v1/deployments/"))
    assert ours == comparable(only_result(other_api, "/api/v1/deployments/"))
    assert (ours["is_fix"], ours["tags"], ours["occurred_at"]) == (True, ["is_fix", "sev1"], "2024-05-01T12:00:00Z")
    window = ("2024-04-01T00:00:00Z", "2024-06-01T00:00:00Z")
    assert metric_counts(api, *window) == metric_counts(other_api, *window)
    assert metric_counts(api, *window)["rework_rate"] == {"rework": 1, "total": 1}


def test_a_json_body_sent_without_a_json_content_type_is_read(org, key):
    # curl -d without -H "Content-Type: application/json" sends a form content type.
    response = Client().post(
        URL,
        json.dumps({"commitSha": SHA, "environmentName": "production"}),
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=key,
    )

    assert response.status_code == 201
