"""The clear token is nowhere: not in any table, not in any log line; revocation and expiry act at once."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from releasetracker.models import ApiToken
from releasetracker.services import token_revoke


def dump_every_table() -> str:
    """Every row of every table in the database, as text."""
    out = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - table names from introspection
            out.append(repr(cursor.fetchall()))
    return "\n".join(out)


@pytest.mark.django_db
@pytest.mark.urls("tests.reliability.urls_boom")
def test_the_clear_token_is_in_no_table_and_no_log_line(org, console_log):
    out = StringIO()
    call_command("create_token", org.slug, "--name", "ci", "--scope", "write", stdout=out)
    clear = out.getvalue().strip().splitlines()[-1]
    secret = clear[len("rt_") + 8 :]  # the part after the visible prefix
    client = Client(HTTP_AUTHORIZATION=f"Bearer {clear}")

    # Successful, refused, failing and crashing requests all carry the token.
    assert client.get("/api/v1/organization/").status_code == 200
    assert (
        client.post(
            "/api/v1/deployments/",
            {"environment": "production", "commit_sha": "a" * 40},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="key-1",
        ).status_code
        == 201
    )
    assert client.post("/api/v1/releases/", {"version": ""}, content_type="application/json").status_code == 400
    assert client.get("/api/v1/releases/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert client.get("/api/v1/__boom__/").status_code == 500
    assert Client(HTTP_AUTHORIZATION=f"Bearer {clear}x").get("/api/v1/organization/").status_code == 401

    logged = "\n".join(console_log())
    assert "releasetracker.access" in logged  # the capture works
    assert secret not in logged
    tables = dump_every_table()
    assert clear[:11] in tables  # the visible prefix is stored: the dump covers the token table
    assert secret not in tables


@pytest.mark.django_db
def test_revocation_takes_effect_on_the_very_next_request(api, org):
    assert api.get("/api/v1/releases/").status_code == 200
    token_revoke(organization=org, token=api.token)
    response = api.get("/api/v1/releases/")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]


@pytest.mark.django_db
def test_a_token_that_expires_between_two_requests_is_refused_on_the_second(api):
    ApiToken.objects.filter(pk=api.token.pk).update(expires_at=timezone.now() + timedelta(hours=1))
    assert api.get("/api/v1/releases/").status_code == 200
    ApiToken.objects.filter(pk=api.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api.get("/api/v1/releases/")
    assert response.status_code == 401
    assert "expired" in response.json()["error"]
