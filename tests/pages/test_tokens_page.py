import re

import pytest

from releasetracker.models import ApiToken
from tests.factories import issue_token

pytestmark = pytest.mark.django_db

URL = "/orgs/acme/settings/tokens/"


def shown_token(response) -> str:
    match = re.search(r'<code id="new-token"[^>]*>([^<]+)</code>', response.content.decode())
    return match.group(1) if match else ""


def test_an_admin_sees_the_tokens_with_prefix_scopes_and_last_use(alice_client, org):
    token, _ = issue_token(org, scopes=["read"], name="dashboards")
    body = alice_client.get(URL).content.decode()
    assert "dashboards" in body and f"{token.prefix}…" in body and "never" in body
    assert 'name="csrfmiddlewaretoken"' in body


def test_creating_a_token_shows_it_once_and_it_works_against_the_api(alice_client, alice, org, client):
    posted = alice_client.post(URL, {"name": "github-actions", "scopes": ["write"], "expires_in_days": "90"})
    # Post/redirect/get: the clear value is never in the POST answer nor in the URL.
    assert posted.status_code == 303 and posted["Location"] == URL
    assert "rt_" not in posted.content.decode()
    response = alice_client.get(URL)
    assert response["Cache-Control"] == "no-store"
    clear = shown_token(response)
    assert clear.startswith("rt_")
    token = ApiToken.objects.get(organization=org, name="github-actions")
    assert token.scopes == ["write"] and token.created_by == alice and token.expires_at is not None
    assert client.get("/api/v1/organization/", HTTP_AUTHORIZATION=f"Bearer {clear}").status_code == 200
    # Shown once: the list page afterwards has the prefix only.
    again = alice_client.get(URL).content.decode()
    assert clear not in again and token.prefix in again


def test_reloading_after_create_shows_the_list_and_issues_no_second_token(alice_client, org):
    alice_client.post(URL, {"name": "github-actions", "scopes": ["write"]})
    first = alice_client.get(URL)
    reloaded = alice_client.get(URL)
    assert shown_token(first) and not shown_token(reloaded)
    assert "no-store" not in reloaded.get("Cache-Control", "")
    assert ApiToken.objects.filter(organization=org, name="github-actions").count() == 1


def test_a_token_left_unread_for_more_than_five_minutes_is_not_shown(alice_client, org):
    alice_client.post(URL, {"name": "github-actions", "scopes": ["write"]})
    session = alice_client.session
    kept = session["tokens:issued"]
    session["tokens:issued"] = {**kept, "issued_at": kept["issued_at"] - 6 * 60}
    session.save()

    response = alice_client.get(URL)

    assert not shown_token(response) and kept["clear"] not in response.content.decode()
    assert ApiToken.objects.filter(organization=org, name="github-actions").count() == 1


def test_a_token_without_name_or_scope_is_refused_naming_the_fields(alice_client, org):
    response = alice_client.post(URL, {"name": "  ", "expires_in_days": "7"})
    assert response.status_code == 400
    body = response.content.decode()
    assert body.count("This field is required.") == 2
    assert "Select a valid choice. 7 is not one of the available choices." in body
    assert not ApiToken.objects.filter(organization=org).exists()


def test_revoke_asks_for_confirmation_before_acting(alice_client, org, client):
    token, clear = issue_token(org, name="old-ci")
    listed = alice_client.get(URL).content.decode()
    assert f'href="{URL}{token.public_id}/revoke/"' in listed
    page = alice_client.get(f"{URL}{token.public_id}/revoke/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "Revoke token “old-ci”?" in body and 'method="post"' in body and "Cancel" in body
    token.refresh_from_db()
    assert token.revoked_at is None
    assert client.get("/api/v1/organization/", HTTP_AUTHORIZATION=f"Bearer {clear}").status_code == 200


def test_revoking_a_token_stops_it_working(alice_client, org, client):
    token, clear = issue_token(org, name="old-ci")
    response = alice_client.post(f"{URL}{token.public_id}/revoke/", follow=True)
    assert response.status_code == 200
    assert "is revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert client.get("/api/v1/organization/", HTTP_AUTHORIZATION=f"Bearer {clear}").status_code == 401


def test_regenerating_revokes_the_old_value_and_shows_the_new_one_once(alice_client, org, client):
    token, old = issue_token(org, scopes=["read"], name="dash")
    assert "Regenerate token “dash”?" in alice_client.get(f"{URL}{token.public_id}/regenerate/").content.decode()
    assert client.get("/api/v1/organization/", HTTP_AUTHORIZATION=f"Bearer {old}").status_code == 200
    posted = alice_client.post(f"{URL}{token.public_id}/regenerate/")
    assert posted.status_code == 303
    new = shown_token(alice_client.get(URL))
    assert new and new != old
    assert client.get("/api/v1/organization/", HTTP_AUTHORIZATION=f"Bearer {old}").status_code == 401
    assert client.get("/api/v1/organization/", HTTP_AUTHORIZATION=f"Bearer {new}").status_code == 200
    assert ApiToken.objects.get(prefix=new[:11]).scopes == ["read"]


def test_token_actions_act_only_on_a_post_with_csrf(alice, org):
    from django.test import Client

    token, _ = issue_token(org)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    # A GET only asks; acting needs a POST with the form's CSRF token.
    assert strict.get(f"{URL}{token.public_id}/revoke/").status_code == 200
    assert strict.post(f"{URL}{token.public_id}/revoke/").status_code == 403
    assert strict.post(URL, {"name": "x", "scopes": ["read"]}).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_a_viewer_cannot_manage_tokens(bob_client, org):
    token, _ = issue_token(org)
    assert bob_client.get(URL).status_code == 403
    assert bob_client.post(URL, {"name": "x", "scopes": ["write"]}).status_code == 403
    assert bob_client.post(f"{URL}{token.public_id}/revoke/").status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None
    assert "API tokens" not in bob_client.get("/orgs/acme/releases/").content.decode()


def test_another_organizations_tokens_are_404(charlie_client, alice_client, org, other_org):
    token, _ = issue_token(org)
    other, _ = issue_token(other_org)
    assert charlie_client.get(URL).status_code == 404
    assert charlie_client.post(f"{URL}{token.public_id}/revoke/").status_code == 404
    # Even through its own organization's URL, charlie cannot touch acme's token.
    assert charlie_client.post(f"/orgs/globex/settings/tokens/{token.public_id}/revoke/").status_code == 404
    # And alice cannot reach globex's token through acme's URL.
    assert alice_client.post(f"{URL}{other.public_id}/revoke/").status_code == 404
    token.refresh_from_db()
    other.refresh_from_db()
    assert token.revoked_at is None and other.revoked_at is None


def test_hostile_token_names_are_escaped(alice_client, org):
    issue_token(org, name="<script>alert(1)</script>")
    body = alice_client.get(URL).content.decode()
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body


@pytest.mark.parametrize("count", [2, 40])
def test_the_token_list_query_count_does_not_grow_with_tokens(
    alice_client, alice, org, django_assert_max_num_queries, count
):
    for i in range(count):
        issue_token(org, name=f"ci-{i}", created_by=alice)
    with django_assert_max_num_queries(5):
        response = alice_client.get(URL)
    assert response.content.decode().count("Revoke ci-") == count
