"""Rate limits: per token, and per client IP for requests without a credential; 429 with Retry-After."""

import hashlib
import hmac
import itertools
import json
import time

import pytest
from django.core.cache import caches
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import issue_token


@pytest.fixture
def low_rates(settings):
    """Three requests a minute per token and two per IP, on a clean counter store."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "3/min", "anon": "2/min"},
    }
    caches[settings.RATE_LIMIT_CACHE].clear()
    yield
    caches[settings.RATE_LIMIT_CACHE].clear()


def bearer(clear: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    return client


@pytest.mark.django_db
def test_a_token_over_its_rate_gets_429_with_retry_after(api, low_rates):
    for _ in range(3):
        assert api.get("/api/v1/releases/").status_code == 200
    response = api.get("/api/v1/releases/")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    body = response.json()
    assert body["code"] == "throttled"
    assert "throttled" in body["error"].lower()


@pytest.mark.django_db
def test_writes_count_against_the_same_token_budget(api, low_rates):
    for n in range(3):
        response = api.post(
            "/api/v1/deployments/", {"environment": "staging", "commit_sha": f"{n:040x}"}, format="json"
        )
        assert response.status_code == 201
    response = api.post("/api/v1/deployments/", {"environment": "staging", "commit_sha": "f" * 40}, format="json")
    assert response.status_code == 429


@pytest.mark.django_db
def test_each_token_has_its_own_budget(org, other_org, low_rates):
    first = bearer(issue_token(org, name="first")[1])
    second = bearer(issue_token(org, name="second")[1])
    foreign = bearer(issue_token(other_org, name="foreign")[1])
    for _ in range(3):
        first.get("/api/v1/releases/")
    assert first.get("/api/v1/releases/").status_code == 429
    assert second.get("/api/v1/releases/").status_code == 200
    assert foreign.get("/api/v1/releases/").status_code == 200


@pytest.mark.django_db
def test_requests_without_a_credential_are_limited_per_ip(low_rates):
    client = APIClient(REMOTE_ADDR="203.0.113.7")
    assert client.get("/api/v1/docs/").status_code == 200
    assert client.get("/api/v1/docs/").status_code == 200
    response = client.get("/api/v1/docs/")
    assert response.status_code == 429
    assert "Retry-After" in response
    # Another address has its own budget...
    assert APIClient(REMOTE_ADDR="203.0.113.8").get("/api/v1/docs/").status_code == 200
    # ...and a client cannot pick a fresh one by sending X-Forwarded-For (no trusted proxy by default).
    spoofed = client.get("/api/v1/docs/", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert spoofed.status_code == 429


@pytest.mark.django_db
def test_a_token_is_not_held_to_the_per_ip_limit(api, low_rates):
    # Two per IP, three per token: the third token request from the same address passes.
    for _ in range(3):
        assert api.get("/api/v1/releases/").status_code == 200


def test_the_defaults_let_a_ci_burst_through_and_stop_a_runaway_loop():
    from rest_framework.throttling import SimpleRateThrottle

    from releasetracker import settings as production

    rates = production.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    per_token = SimpleRateThrottle.parse_rate(None, rates["token"])
    per_ip = SimpleRateThrottle.parse_rate(None, rates["anon"])
    assert per_token == (1200, 60)  # hundreds a minute for a CI pipeline
    assert per_ip == (60, 60)
    assert production.REST_FRAMEWORK["NUM_PROXIES"] == 0


def test_the_counter_store_is_chosen_by_cache_url_and_a_bad_value_stops_start_up():
    from django.core.exceptions import ImproperlyConfigured

    from releasetracker.settings import cache_from_url

    # The default is one store for every worker: the database's table, made by migrate.
    assert cache_from_url("") == cache_from_url("db://rt_cache")
    assert cache_from_url("")["BACKEND"] == "releasetracker.cache.DatabaseCache"
    assert cache_from_url("")["LOCATION"] == "rt_cache"
    assert cache_from_url("db://other_cache")["LOCATION"] == "other_cache"
    assert cache_from_url("locmem://")["BACKEND"].endswith("LocMemCache")
    assert cache_from_url("redis://cache:6379/0")["LOCATION"] == "redis://cache:6379/0"
    with pytest.raises(ImproperlyConfigured, match="CACHE_URL"):
        cache_from_url("memcache://nowhere")


@pytest.fixture
def database_cache(settings):
    """The production default: the counters in the ``rt_cache`` table that ``migrate`` made."""
    from releasetracker.settings import cache_from_url

    settings.CACHES = {**settings.CACHES, "shared": cache_from_url("")}
    settings.RATE_LIMIT_CACHE = "shared"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "2/min", "anon": "2/min"}}
    yield caches["shared"]


@pytest.mark.django_db(transaction=True)
def test_the_default_database_cache_holds_the_limit_with_no_setup_step(api, database_cache):
    assert api.get("/api/v1/releases/").status_code == 200
    assert api.get("/api/v1/releases/").status_code == 200
    assert api.get("/api/v1/releases/").status_code == 429
    anonymous = APIClient(REMOTE_ADDR="203.0.113.30")
    assert [anonymous.get("/api/v1/releases/").status_code for _ in range(3)] == [401, 401, 429]
    database_cache.clear()


@pytest.mark.django_db(transaction=True)
def test_database_cache_counts_are_kept_in_the_table_and_expire(database_cache):
    database_cache.clear()
    assert database_cache.add("count", 1, 60)
    assert [database_cache.incr("count") for _ in range(3)] == [2, 3, 4]
    assert database_cache.decr("count") == 3
    assert database_cache.get("count") == 3
    database_cache.set("gone", 5, -1)  # already expired
    with pytest.raises(ValueError):
        database_cache.incr("gone")
    with pytest.raises(ValueError):
        database_cache.incr("never-set")
    database_cache.clear()


# The per-IP limit: every request without a valid token counts, whatever it carries. -------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_AUTHORIZATION": "Bearer rt_not-a-token-of-anyone"},
        {"HTTP_AUTHORIZATION": "Basic cnRfbm90LWEtdG9rZW46"},
        {"HTTP_AUTHORIZATION": "Bearer"},
    ],
    ids=["no-token", "wrong-token", "basic-auth", "malformed-header"],
)
def test_native_api_requests_refused_for_their_credential_are_limited_per_ip(low_rates, headers):
    client = APIClient(REMOTE_ADDR="203.0.113.40")
    assert [client.get("/api/v1/releases/", **headers).status_code for _ in range(2)] == [401, 401]
    response = client.get("/api/v1/releases/", **headers)
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60
    # Writes too: the limit answers before the permission check.
    post = client.post("/api/v1/deployments/", {"environment": "x"}, format="json", **headers)
    assert post.status_code == 429


@pytest.mark.django_db
def test_a_revoked_token_is_limited_per_ip(org, low_rates):
    from releasetracker.services import token_revoke

    token, clear = issue_token(org, name="revoked")
    token_revoke(organization=org, token=token)
    client = APIClient(REMOTE_ADDR="203.0.113.41", HTTP_AUTHORIZATION=f"Bearer {clear}")
    assert [client.get("/api/v1/releases/").status_code for _ in range(3)] == [401, 401, 429]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/releases/", "/compat/multitudes/deployments", "/hooks/github/acme/"])
def test_a_signature_header_alone_skips_no_limit(org, low_rates, path):
    client = APIClient(REMOTE_ADDR="203.0.113.42", HTTP_X_HUB_SIGNATURE_256="sha256=" + "0" * 64)
    statuses = [client.post(path, {}, format="json").status_code for _ in range(3)]
    assert 429 not in statuses[:2]
    assert statuses[2] == 429


@pytest.mark.django_db
def test_github_deliveries_with_a_valid_signature_are_not_held_to_the_per_ip_limit(org, low_rates):
    org.github_webhook_secret = "hook-secret-for-the-limit-test"
    org.save(update_fields=["github_webhook_secret"])
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    signature = "sha256=" + hmac.new(org.github_webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    client = APIClient(REMOTE_ADDR="203.0.113.43")

    def deliver(signature: str) -> int:
        return client.post(
            "/hooks/github/acme/",
            data=body,
            content_type="application/json",
            HTTP_X_GITHUB_EVENT="ping",
            HTTP_X_GITHUB_DELIVERY=f"delivery-{next(deliveries)}",
            HTTP_X_HUB_SIGNATURE_256=signature,
        ).status_code

    deliveries = itertools.count()
    assert [deliver(signature) for _ in range(4)] == [200] * 4
    # A wrong signature from the same address is counted: two 401s, then the limit.
    assert [deliver("sha256=" + "1" * 64) for _ in range(3)] == [401, 401, 429]
    # The signed deliveries still pass.
    assert deliver(signature) == 200


@pytest.mark.django_db
def test_a_valid_token_is_looked_up_once_per_request(api, low_rates, django_assert_num_queries):
    from releasetracker.models import ApiToken

    ApiToken.objects.filter(pk=api.token.pk).update(last_used_at=timezone.now())
    # The token (with its organization) in one query for the limiter and the view alike, then the list.
    with django_assert_num_queries(2):
        assert api.get("/api/v1/environments/").status_code == 200


def throttled_message(response) -> str:
    """The 429's text in the vendor's error shape (tests/integrations/test_vendor_error_shapes.py)."""
    if response["Content-Type"].startswith("text/plain"):  # Multitudes
        return response.content.decode()
    body = response.json()
    return body.get("error") or body["detail"]  # Echoes, Aviator, GitHub / Sentry


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/v1/signals/releases", "/compat/multitudes/deployments", "/api/0/organizations/acme/releases/"]
)
def test_vendor_endpoints_share_the_token_limit(api, low_rates, path):
    statuses = [api.get(path).status_code for _ in range(3)]
    assert 429 not in statuses
    response = api.get(path)
    assert response.status_code == 429
    assert "throttled" in throttled_message(response).lower()
    assert 1 <= int(response["Retry-After"]) <= 60
    # The same token's budget is spent on the native API too: one bucket per token.
    assert api.get("/api/v1/releases/").status_code == 429


@pytest.mark.django_db
def test_vendor_endpoints_limit_requests_without_a_credential_per_ip(low_rates):
    client = APIClient(REMOTE_ADDR="203.0.113.20")
    for _ in range(2):
        assert client.get("/compat/multitudes/deployments").status_code != 429
    assert client.get("/compat/multitudes/deployments").status_code == 429


def _incident_delivery(kind: str, secret: str) -> tuple[bytes, dict]:
    """A delivery each incident tool sends, of an event type the hook acknowledges (202) and ignores."""
    if kind == "pagerduty":
        body = json.dumps({"event": {"id": "01DEN0VJQBX7", "event_type": "pagey.ping"}}).encode()
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return body, {"HTTP_X_PAGERDUTY_SIGNATURE": f"v1={digest}"}
    if kind == "opsgenie":
        body = json.dumps({"action": "Acknowledge", "alert": {"alertId": "70413a06"}}).encode()
        return body, {"HTTP_X_WEBHOOK_SECRET": secret}
    body = json.dumps({"id": "grafana-1", "title": "Error rate above 5%", "status": "acknowledged"}).encode()
    timestamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"HTTP_X_SIGNATURE_256": f"sha256={digest}", "HTTP_X_SIGNATURE_TIMESTAMP": timestamp}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "path"), [("pagerduty", "pagerduty"), ("opsgenie", "opsgenie"), ("generic", "incidents")]
)
def test_incident_deliveries_with_a_valid_signature_are_not_held_to_the_per_ip_limit(org, low_rates, kind, path):
    from incidents.services import incident_settings_update

    secret = f"{kind}-secret-for-the-limit-test"
    incident_settings_update(organization=org, **{f"{kind}_secret": secret})
    client = APIClient(REMOTE_ADDR="203.0.113.44")

    def deliver(secret: str) -> int:
        body, headers = _incident_delivery(kind, secret)
        return client.post(f"/hooks/{path}/acme/", data=body, content_type="application/json", **headers).status_code

    assert [deliver(secret) for _ in range(4)] == [202] * 4
    # A wrong signature (or secret) from the same address is counted: two 401s, then the limit.
    assert [deliver("not-the-secret") for _ in range(3)] == [401, 401, 429]
    # The signed deliveries still pass.
    assert deliver(secret) == 202


@pytest.mark.django_db
def test_a_generic_incident_delivery_signed_too_long_ago_is_held_to_the_per_ip_limit(org, low_rates):
    from incidents.services import incident_settings_update

    incident_settings_update(organization=org, generic_secret="generic-secret")
    body = json.dumps({"id": "1", "title": "x", "status": "acknowledged"}).encode()
    timestamp = str(int(time.time()) - 3600)
    digest = hmac.new(b"generic-secret", f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    client = APIClient(REMOTE_ADDR="203.0.113.45")

    statuses = [
        client.post(
            "/hooks/incidents/acme/",
            data=body,
            content_type="application/json",
            HTTP_X_SIGNATURE_256=f"sha256={digest}",
            HTTP_X_SIGNATURE_TIMESTAMP=timestamp,
        ).status_code
        for _ in range(3)
    ]

    assert statuses == [401, 401, 429]
