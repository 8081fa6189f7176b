"""Bodies over DATA_UPLOAD_MAX_MEMORY_SIZE get a 413 before any view reads them."""

import io
import json

import pytest

from deployments.models import Deployment
from releases.models import Commit, Release


def release_body(size: int) -> bytes:
    """A valid release payload, padded with commit messages to at least ``size`` bytes."""
    commits = []
    body = b""
    n = 0
    while len(body) < size:
        commits.append({"sha": f"{n:040x}", "message": "x" * 1000})
        n += 1
        body = json.dumps({"version": "big-1.0", "commits": commits}).encode()
    return body


@pytest.mark.django_db
def test_a_body_over_the_configured_maximum_is_413_and_nothing_is_written(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 20_000
    body = release_body(30_000)
    response = api.generic("POST", "/api/v1/releases/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {"error": "body: request body exceeds 20000 bytes", "code": "payload_too_large"}
    assert not Release.objects.exists()
    assert not Commit.objects.exists()


@pytest.mark.django_db
def test_a_body_at_the_maximum_is_accepted(api, settings):
    body = release_body(15_000)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(body)
    response = api.generic("POST", "/api/v1/releases/", body, content_type="application/json")
    assert response.status_code == 201, response.content


@pytest.mark.django_db
def test_the_default_maximum_refuses_a_six_megabyte_deployment(api):
    body = json.dumps({"environment": "production", "commit_sha": "a" * 40, "changelog": "x" * 6_000_000}).encode()
    response = api.generic("POST", "/api/v1/deployments/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert not Deployment.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/v1/signals/releases", "/compat/multitudes/deployments", "/api/0/organizations/acme/releases/"]
)
def test_vendor_paths_are_limited_too(api, settings, path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    response = api.generic("POST", path, b"{" + b" " * 2_000 + b"}", content_type="application/json")
    assert response.status_code == 413


def chunked(api, body: bytes, *, terminated: bool):
    """A request the way a WSGI server presents a chunked upload: no Content-Length, decoded stream."""
    extra = {
        "CONTENT_LENGTH": "",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": io.BytesIO(body),
    }
    if terminated:
        extra["wsgi.input_terminated"] = True
    return api.generic("POST", "/api/v1/deployments/", b"", content_type="application/json", **extra)


@pytest.mark.django_db
def test_a_chunked_body_over_the_maximum_is_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    body = json.dumps({"environment": "production", "commit_sha": "a" * 40, "title": "x" * 5_000}).encode()
    response = chunked(api, body, terminated=True)
    assert response.status_code == 413
    assert not Deployment.objects.exists()


@pytest.mark.django_db
def test_a_small_chunked_body_is_read_and_handled_normally(api):
    body = json.dumps({"environment": "production", "commit_sha": "a" * 40}).encode()
    response = chunked(api, body, terminated=True)
    assert response.status_code == 201, response.content
    assert Deployment.objects.count() == 1


@pytest.mark.django_db
def test_a_chunked_body_the_server_cannot_delimit_is_refused_with_411(api):
    body = json.dumps({"environment": "production", "commit_sha": "a" * 40}).encode()
    response = chunked(api, body, terminated=False)
    assert response.status_code == 411
    assert response.json()["code"] == "length_required"
    assert not Deployment.objects.exists()
