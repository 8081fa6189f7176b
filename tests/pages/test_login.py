import pytest
from django.test import Client

from releasetracker.pages import LOGIN_MAX_FAILURES_PER_USER

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def sign_in(client: Client, username: str, password: str, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def test_the_sign_in_page_has_a_labelled_form_with_csrf(client):
    body = client.get(LOGIN).content.decode()
    assert '<label for="id_username">Username</label>' in body
    assert '<label for="id_password">Password</label>' in body
    assert 'name="csrfmiddlewaretoken"' in body


def test_signing_in_leads_to_the_page_asked_for(client, alice, org):
    response = client.post(LOGIN, {"username": "alice", "password": "password", "next": "/orgs/acme/metrics/"})
    assert response.status_code == 302
    assert response["Location"] == "/orgs/acme/metrics/"


def test_it_does_not_follow_a_next_to_another_site(client, alice, org):
    response = client.post(LOGIN, {"username": "alice", "password": "password", "next": "https://evil.example/"})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_unknown_user_and_wrong_password_get_the_same_message(client, alice):
    unknown = sign_in(client, "nobody", "password").content.decode()
    wrong = sign_in(client, "alice", "wrong").content.decode()
    message = "That username and password do not match."
    assert message in unknown and message in wrong


def test_sign_in_is_paused_after_repeated_failures_even_with_the_right_password(client, alice):
    for _ in range(LOGIN_MAX_FAILURES_PER_USER):
        assert sign_in(client, "alice", "wrong").status_code == 200
    response = sign_in(client, "alice", "password")
    assert response.status_code == 429
    assert "Too many failed sign-in attempts. Sign-in is paused for 15 minutes" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_throttling_treats_unknown_users_the_same(client):
    for _ in range(LOGIN_MAX_FAILURES_PER_USER):
        sign_in(client, "ghost", "guess")
    assert sign_in(client, "ghost", "guess").status_code == 429


def test_throttling_is_per_username_and_address(client, alice, bob):
    for _ in range(LOGIN_MAX_FAILURES_PER_USER):
        sign_in(client, "alice", "wrong")
    # Bob from the same address, and Alice from another one, can still sign in.
    assert sign_in(Client(), "bob", "password").status_code == 302
    assert sign_in(Client(), "alice", "password", REMOTE_ADDR="10.0.0.9").status_code == 302


def test_a_success_resets_the_failure_count(client, alice):
    for _ in range(LOGIN_MAX_FAILURES_PER_USER - 1):
        sign_in(client, "alice", "wrong")
    assert sign_in(client, "alice", "password").status_code == 302
    fresh = Client()
    for _ in range(LOGIN_MAX_FAILURES_PER_USER - 1):
        sign_in(fresh, "alice", "wrong")
    assert sign_in(fresh, "alice", "password").status_code == 302


def test_sign_out_is_a_post(alice_client):
    assert alice_client.get("/accounts/logout/").status_code == 405
    response = alice_client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert alice_client.get("/orgs/acme/releases/").status_code == 302


def test_the_admin_sign_in_shares_the_throttle(client, db):
    from tests.factories import UserFactory

    UserFactory(username="ops", is_staff=True)
    for _ in range(LOGIN_MAX_FAILURES_PER_USER):
        sign_in(client, "ops", "wrong")
    response = client.post("/admin/login/", {"username": "ops", "password": "password"})
    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
