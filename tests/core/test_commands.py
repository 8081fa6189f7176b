from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from releasetracker.models import ApiToken, Organization
from releasetracker.services import token_hash

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_org_then_token_prints_the_clear_token_alone_on_the_last_line(client):
    assert "Created organization shop" in run("create_org", "shop", "--name", "Shop Inc")
    assert Organization.objects.get(slug="shop").name == "Shop Inc"
    output = run("create_token", "shop", "--name", "github", "--scope", "read")
    clear = output.strip().splitlines()[-1]
    assert clear.startswith("rt_") and " " not in clear
    token = ApiToken.objects.get(token_hash=token_hash(clear))
    assert token.scopes == ["read"]
    assert client.get("/api/v1/organization/", HTTP_AUTHORIZATION=f"Bearer {clear}").status_code == 200


def test_create_org_refuses_a_taken_slug():
    run("create_org", "shop")
    with pytest.raises(CommandError, match="already exists"):
        run("create_org", "shop")


def test_create_token_for_unknown_org_fails():
    with pytest.raises(CommandError, match="no organization"):
        run("create_token", "nope", "--name", "x")


def test_revoke_token_by_prefix(client):
    run("create_org", "shop")
    clear = run("create_token", "shop", "--name", "ci").strip().splitlines()[-1]
    prefix = ApiToken.objects.get().prefix
    assert f"Revoked token 'ci' ({prefix})" in run("revoke_token", prefix)
    assert client.get("/api/v1/organization/", HTTP_AUTHORIZATION=f"Bearer {clear}").status_code == 401
    with pytest.raises(CommandError, match="no token with prefix"):
        run("revoke_token", "rt_missing")


def test_seed_demo_is_refused_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=1"):
        run("seed_demo")


def test_seed_demo_is_idempotent_and_its_token_works(settings, client):
    settings.DEBUG = True
    first = run("seed_demo")
    second = run("seed_demo")
    assert first == second
    token = first.strip().splitlines()[-1].split(": ")[-1]
    response = client.get("/api/v1/releases/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert len(response.json()["results"]) > 10
    assert client.login(username="demo", password="demo")
