"""A path a vendor does not serve (404), a body over the limit (413) and a rate limit (429), under
each vendor's prefix: answered in that vendor's error shape, like every other refusal it makes."""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.core.cache import caches
from django.test import Client

pytestmark = pytest.mark.django_db


def echoes(response, status: int) -> str:
    body = response.json()
    assert set(body) == {"status", "error"} and body["status"] == status
    return body["error"]


def aviator(response, status: int) -> str:
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]


def iftrue(response, status: int) -> str:
    body = response.json()
    assert set(body) == {"statusCode", "message", "error"} and body["statusCode"] == status
    return body["message"]


def multitudes(response, status: int) -> str:
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def sentry(response, status: int) -> str:
    body = response.json()
    assert set(body) == {"detail"}
    return body["detail"]


def github(response, status: int) -> str:
    body = response.json()
    assert body["code"] == {404: "not_found", 413: "payload_too_large", 429: "throttled"}[status]
    return body["error"]


@dataclass(frozen=True)
class Vendor:
    endpoint: str  # a path the vendor serves, which takes a POST
    unknown: str  # a path under its prefix that it does not serve
    shape: Callable  # asserts the vendor's error shape, returns the message


VENDORS = {
    "echoes": Vendor("/v1/signals/releases", "/v1/signals/releases/x/y", echoes),
    "aviator": Vendor("/api/releases/web/releases/1.0.0-rc1", "/api/releases/web/nope", aviator),
    "iftrue": Vendor("/compat/iftrue/v1/organization/deployment", "/compat/iftrue/v2/deployment", iftrue),
    "multitudes": Vendor("/compat/multitudes/deployments", "/compat/multitudes/deployments/1", multitudes),
    "sentry": Vendor("/api/0/organizations/acme/releases/", "/api/0/nope/", sentry),
    "github": Vendor("/hooks/github/acme/", "/hooks/github/acme/extra/", github),
}


@pytest.fixture
def key(write_token) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {write_token[1]}"}


@pytest.mark.parametrize("name", sorted(VENDORS))
@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
def test_a_path_the_vendor_does_not_serve_is_its_404(name, method, key):
    vendor = VENDORS[name]
    for headers in (key, {}):  # with a key or without: the path is unknown either way
        response = Client().generic(method, vendor.unknown, "{}", content_type="application/json", **headers)

        assert response.status_code == 404
        assert vendor.shape(response, 404)


@pytest.mark.parametrize(
    "prefix", ["/v1/signals/", "/api/releases/", "/compat/iftrue/", "/compat/multitudes/", "/hooks/github/"]
)
def test_the_bare_prefix_is_a_404_too(prefix, key):
    response = Client().get(prefix, **key)

    assert response.status_code == 404
    assert not response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("name", sorted(VENDORS))
@pytest.mark.parametrize("where", ["endpoint", "unknown"])
def test_a_body_over_the_limit_is_the_vendors_413(name, where, key, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    vendor = VENDORS[name]

    response = Client().post(getattr(vendor, where), b"{" + b" " * 2_000 + b"}", content_type="application/json", **key)

    assert response.status_code == 413
    message = vendor.shape(response, 413).lower()
    assert "large" in message or "exceeds" in message


@pytest.fixture
def low_rates(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "2/min", "anon": "2/min"}}
    caches[settings.RATE_LIMIT_CACHE].clear()
    yield
    caches[settings.RATE_LIMIT_CACHE].clear()


@pytest.mark.parametrize("name", sorted(VENDORS))
@pytest.mark.parametrize("where", ["endpoint", "unknown"])
def test_a_rate_limit_is_the_vendors_429_with_retry_after(name, where, key, low_rates):
    vendor = VENDORS[name]
    path = getattr(vendor, where)
    for _ in range(2):
        assert Client().get(path, **key).status_code != 429

    response = Client().get(path, **key)

    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "throttled" in vendor.shape(response, 429).lower()


def test_the_native_api_keeps_its_own_shapes(key, settings, low_rates):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    too_big = Client().post("/api/v1/releases/", b"{" + b" " * 2_000 + b"}", content_type="application/json", **key)
    assert too_big.json() == {"error": "body: request body exceeds 1000 bytes", "code": "payload_too_large"}
    for _ in range(2):
        Client().get("/v1/signals/releases", **key)  # the token's budget is shared with the vendors
    throttled = Client().get("/api/v1/releases/", **key)
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "throttled"
