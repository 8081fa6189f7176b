"""What ``integrations.base`` does the same way for every vendor, each in its own error shape."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from releasetracker.services import token_revoke
from tests.compat.test_iftrue import required_only
from tests.factories import issue_token

pytestmark = pytest.mark.django_db

SHA = "c" * 40
ECHOES = "/v1/signals/releases"
IFTRUE = "/compat/iftrue/v1/organization/deployment"
MULTITUDES = "/compat/multitudes/deployments"
GOOD = {
    ECHOES: {"version": "1.0.0", "commits": [SHA], "deliverables": ["web"]},
    IFTRUE: required_only(),
    MULTITUDES: {"commitSha": SHA, "environmentName": "production"},
}


def message(response) -> str:
    """The refusal's text, wherever the vendor puts it."""
    if response["Content-Type"].startswith("text/plain"):
        return response.content.decode()
    body = response.json()
    return body.get("message") or body["error"]


def send(method: str, path: str, clear: str | None, body: str | None = None, **extra):
    """The doc's request (or ``body``), with the key as a Bearer token when there is one."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {clear}"} if clear else {}
    data = json.dumps(GOOD[path]) if body is None else body
    content_type = extra.pop("content_type", "application/json")
    return Client().generic(method, path, data, content_type=content_type, **headers, **extra)


@pytest.fixture
def clear(org) -> str:
    return issue_token(org, scopes=["write"])[1]


@pytest.mark.parametrize("path", [ECHOES, IFTRUE, MULTITUDES])
def test_the_doc_request_is_accepted_whatever_the_client_accepts_or_calls_its_body(clear, path):
    response = send("POST", path, clear, content_type="text/plain", HTTP_ACCEPT="text/html")

    assert response.status_code == 201, response.content


@pytest.mark.parametrize("path", [ECHOES, IFTRUE, MULTITUDES])
@pytest.mark.parametrize("method", ["PUT", "DELETE", "HEAD", "OPTIONS"])
def test_other_methods_are_405s_naming_the_allowed_one(clear, path, method):
    response = send(method, path, clear)

    assert response.status_code == 405
    assert response["Allow"] == "POST"


@pytest.mark.parametrize("path", [ECHOES, IFTRUE, MULTITUDES])
def test_answers_carry_no_allow_header_but_on_a_405(clear, path):
    assert "Allow" not in send("POST", path, clear)


@pytest.mark.parametrize("path", [ECHOES, IFTRUE, MULTITUDES])
@pytest.mark.parametrize("body", ["", "null", "42", '"text"', '{"a": NaN}'])
def test_a_body_that_is_not_a_json_object_is_a_400_naming_the_body(clear, path, body):
    response = send("POST", path, clear, body)

    assert response.status_code == 400
    assert "body: must be a JSON object" in message(response)


@pytest.mark.parametrize("path", [ECHOES, IFTRUE, MULTITUDES])
def test_a_request_without_a_key_is_a_401_that_says_how_to_send_one(org, path):
    response = send("POST", path, None)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert "Authorization:" in message(response)


@pytest.mark.parametrize(("path", "status"), [(ECHOES, 401), (IFTRUE, 401), (MULTITUDES, 403)])
def test_a_revoked_key_is_refused_as_each_doc_says(org, path, status):
    token, clear = issue_token(org, scopes=["write"])
    token_revoke(organization=org, token=token)

    response = send("POST", path, clear)

    assert response.status_code == status
    assert "revoked" in message(response)


@pytest.mark.parametrize("path", [ECHOES, IFTRUE, MULTITUDES])
def test_an_expired_key_is_refused(org, path):
    _, clear = issue_token(org, scopes=["write"], expires_at=timezone.now() - timedelta(minutes=1))

    response = send("POST", path, clear)

    assert response.status_code in (401, 403)
    assert "expired" in message(response)


@pytest.mark.parametrize(("path", "word"), [(ECHOES, "API key"), (IFTRUE, "token"), (MULTITUDES, "API key")])
def test_a_read_key_cannot_write_and_is_told_in_the_vendors_words(org, path, word):
    _, clear = issue_token(org, scopes=["read"])

    response = send("POST", path, clear)

    assert response.status_code == 403
    assert f"this {word} lacks the 'write' scope" in message(response)


def test_echoes_reads_need_only_the_read_scope(org, clear):
    release_id = send("POST", ECHOES, clear).json()["id"]
    _, reader = issue_token(org, scopes=["read"])

    response = Client().get(f"{ECHOES}/{release_id}", HTTP_AUTHORIZATION=f"Bearer {reader}")

    assert response.status_code == 200
