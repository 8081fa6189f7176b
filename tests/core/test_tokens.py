from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from releasetracker.models import ApiToken
from releasetracker.services import LAST_USED_RESOLUTION, token_regenerate, token_revoke
from tests.factories import issue_token

pytestmark = pytest.mark.django_db


def get_org(client, clear):
    return client.get("/api/v1/organization/", HTTP_AUTHORIZATION=f"Bearer {clear}")


def test_it_answers_the_tokens_organization_and_scopes(client, org):
    token, clear = issue_token(org, scopes=["read"], name="deploy-bot")
    response = get_org(client, clear)
    assert response.status_code == 200
    assert response.json() == {
        "slug": "acme",
        "name": "Acme",
        "token": {"name": "deploy-bot", "prefix": token.prefix, "scopes": ["read"], "expires_at": None},
    }


def test_it_accepts_the_token_keyword_too(client, org):
    _, clear = issue_token(org)
    assert client.get("/api/v1/organization/", HTTP_AUTHORIZATION=f"Token {clear}").status_code == 200


@pytest.mark.parametrize(
    "header, message",
    [
        (None, "authentication required"),
        ("Bearer rt_notarealtoken", "invalid token"),
        ("Basic dXNlcjpwYXNz", "Authorization header must be"),
        ("Bearer", "Authorization header must be"),
    ],
)
def test_it_rejects_missing_or_unknown_tokens_with_401(client, org, header, message):
    kwargs = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/api/v1/organization/", **kwargs)
    assert response.status_code == 401
    assert message in response.json()["error"]
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_rejects_revoked_token(client, org):
    token, clear = issue_token(org)
    assert get_org(client, clear).status_code == 200
    token_revoke(organization=org, token=token)
    response = get_org(client, clear)
    assert response.status_code == 401
    assert response.json()["error"] == "token has been revoked"


def test_it_rejects_expired_token(client, org):
    token, clear = issue_token(org, expires_at=timezone.now() + timedelta(hours=1))
    assert get_org(client, clear).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = get_org(client, clear)
    assert response.status_code == 401
    assert response.json()["error"] == "token has expired"


def test_read_token_cannot_write(client, org):
    _, clear = issue_token(org, scopes=["read"])
    response = client.post(
        "/api/v1/releases/", {"version": "1.0"}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {clear}"
    )
    assert response.status_code == 403
    assert response.json() == {"error": "this token lacks the 'write' scope", "code": "permission_denied"}


def test_write_token_can_read(client, org):
    _, clear = issue_token(org, scopes=["write"])
    assert client.get("/api/v1/releases/", HTTP_AUTHORIZATION=f"Bearer {clear}").status_code == 200


def test_it_updates_last_used_at_at_most_once_a_minute(client, org, django_assert_num_queries):
    token, clear = issue_token(org)
    assert token.last_used_at is None
    get_org(client, clear)
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    # Within the minute: one lookup query and no write.
    with django_assert_num_queries(1):
        get_org(client, clear)
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - LAST_USED_RESOLUTION)
    get_org(client, clear)
    token.refresh_from_db()
    assert token.last_used_at > first


def test_the_clear_token_is_stored_nowhere(org):
    token, clear = issue_token(org)
    assert clear.startswith(token.prefix)
    secret_part = clear[len(token.prefix) :]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM releasetracker_apitoken")
        rows = cursor.fetchall()
    dumped = repr(rows)
    assert secret_part not in dumped
    assert clear not in dumped


def test_regenerate_revokes_the_old_token_and_keeps_name_and_scopes(client, org):
    token, clear = issue_token(org, scopes=["read"], name="nightly")
    issued = token_regenerate(organization=org, token=token)
    assert get_org(client, clear).status_code == 401
    response = get_org(client, issued.clear)
    assert response.status_code == 200
    assert response.json()["token"]["name"] == "nightly"
    assert response.json()["token"]["scopes"] == ["read"]
