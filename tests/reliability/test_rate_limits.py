"""Rate limits: per token, and per client IP for requests without a credential; 429 with Retry-After."""

import pytest
from django.core.cache import caches
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

    assert cache_from_url("")["BACKEND"].endswith("LocMemCache")
    assert cache_from_url("db://rt_cache") == {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "rt_cache",
    }
    assert cache_from_url("redis://cache:6379/0")["LOCATION"] == "redis://cache:6379/0"
    with pytest.raises(ImproperlyConfigured, match="CACHE_URL"):
        cache_from_url("memcache://nowhere")


@pytest.mark.django_db(transaction=True)
def test_a_shared_database_cache_holds_the_limit(api, settings):
    from django.core.management import call_command

    settings.CACHES = {
        **settings.CACHES,
        "shared": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "rt_test_cache"},
    }
    settings.RATE_LIMIT_CACHE = "shared"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "2/min", "anon": "2/min"}}
    call_command("createcachetable", "rt_test_cache", verbosity=0)
    assert api.get("/api/v1/releases/").status_code == 200
    assert api.get("/api/v1/releases/").status_code == 200
    assert api.get("/api/v1/releases/").status_code == 429


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
