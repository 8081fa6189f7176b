"""NUL characters in URLs and bodies, and JSON nested too deep to parse: a clean 4xx on every
entry point, never a 500. PostgreSQL refuses NUL in text outright, so these matter most there."""

import hashlib
import hmac
import json

import pytest
from django.test import Client

from deployments.models import Deployment
from releases.models import Release
from tests.factories import ReleaseFactory, UserFactory

pytestmark = pytest.mark.django_db

SECRET = "hook secret"
SHA = "a10867b14bb761a232cd80139fbd4c0d33264240"
DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' + DEEP + b"}"


@pytest.fixture
def release(org):
    return ReleaseFactory(organization=org, version="1.0.0")


@pytest.mark.parametrize(
    "path",
    [
        "/api/0/organizations/acme/releases/%00/",
        "/api/0/organizations/acme/releases/%00/commits/",
        "/api/0/organizations/acme/releases/%00/deploys/",
        "/api/0/organizations/acme/releases/%00/previous-with-commits/",
        "/api/0/organizations/acme/releases/?query=%00",
        "/api/0/organizations/acme/repos/?query=%00",
        "/api/0/projects/acme/%00/releases/",
        "/api/0/projects/acme/web/releases/1.0%00/",
        "/api/v1/releases/?version=%00",
        "/api/v1/releases/?q=a%00b",
        "/api/v1/deployments/?release=%00",
        "/api/v1/deployments/?environment=%00",
        "/api/v1/commits/?sha=%00",
        "/api/releases/web/environments/%00/deployments/",
        "/v1/signals/releases/%00",
    ],
)
def test_a_nul_in_a_read_url_is_a_400_naming_where_it_is(read_api, release, path):
    response = read_api.get(path)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "NUL" in response.content.decode()


def test_a_nul_in_a_sentry_url_is_refused_in_sentrys_shape(read_api, release):
    response = read_api.get("/api/0/organizations/acme/releases/%00/")

    assert response.status_code == 400
    assert set(response.json()) == {"detail"}


def test_a_nul_in_a_native_query_is_refused_in_the_native_shape(read_api):
    response = read_api.get("/api/v1/releases/?version=%00")

    body = response.json()
    assert (response.status_code, body["code"]) == (400, "validation_error")
    assert "version" in body["fields"]


def test_a_sentry_put_to_a_version_with_a_nul_stores_nothing(api, release):
    response = api.put("/api/0/organizations/acme/releases/%00/", {"url": "https://ci.example.com/1"}, format="json")

    assert response.status_code == 400
    assert Release.objects.count() == 1


def test_a_nul_in_a_page_url_is_a_400(alice, release):
    client = Client()
    client.force_login(alice)

    assert client.get("/orgs/acme/releases/%00/").status_code == 400
    assert client.get("/orgs/acme/releases/?q=%00").status_code == 400


def test_a_nul_in_an_admin_filter_is_a_400(release):
    client = Client()
    client.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))

    assert client.get("/admin/releases/release/?version=%00").status_code == 400
    assert client.get("/admin/releases/release/?q=%00").status_code == 400


def sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def hook(org, client):
    org.github_webhook_secret = SECRET
    org.save(update_fields=["github_webhook_secret"])

    def deliver(event: str, body: bytes, delivery: str = "d-1"):
        return client.post(
            "/hooks/github/acme/",
            data=body,
            content_type="application/json",
            HTTP_X_GITHUB_EVENT=event,
            HTTP_X_GITHUB_DELIVERY=delivery,
            HTTP_X_HUB_SIGNATURE_256=sign(body),
        )

    return deliver


def github_deployment(ref: str) -> dict:
    return {
        "action": "created",
        "deployment": {
            "id": 145988746,
            "sha": SHA,
            "ref": ref,
            "task": "deploy",
            "environment": "production",
            "created_at": "2024-05-02T10:31:05Z",
            "creator": {"login": "octocat"},
        },
        "repository": {"name": "web", "full_name": "acme/web", "html_url": "https://github.com/acme/web"},
    }


def test_a_signed_github_deployment_with_a_nul_in_its_ref_is_a_400_naming_it(hook):
    response = hook("deployment", json.dumps(github_deployment("main\u0000")).encode())

    assert response.status_code == 400
    assert "deployment.ref" in response.content.decode()
    assert Deployment.objects.count() == 0


def test_a_signed_github_release_with_a_nul_in_its_tag_is_a_400_naming_it(hook):
    payload = {
        "action": "published",
        "release": {"tag_name": "v1\u0000", "target_commitish": "main", "published_at": "2024-05-02T10:31:05Z"},
        "repository": {"name": "web", "full_name": "acme/web", "html_url": "https://github.com/acme/web"},
    }

    response = hook("release", json.dumps(payload).encode())

    assert response.status_code == 400
    assert "release.tag_name" in response.content.decode()
    assert Release.objects.count() == 0


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT])
def test_a_signed_github_hook_nested_too_deep_is_a_400(hook, body):
    response = hook("deployment", body)

    assert response.status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/releases/"),
        ("POST", "/api/v1/deployments/"),
        ("POST", "/api/0/organizations/acme/releases/"),
        ("PUT", "/api/0/organizations/acme/releases/1.0.0/"),
        ("POST", "/api/0/organizations/acme/releases/1.0.0/deploys/"),
        ("POST", "/api/releases/web/releases/1.0.0"),
        ("POST", "/api/releases/web/environments/production/deployments"),
        ("POST", "/v1/signals/deployments"),
        ("POST", "/api/v1/sync-deploy-github-action"),
        ("POST", "/compat/iftrue/v1/organization/deployment"),
        ("POST", "/compat/multitudes/deployments/"),
    ],
)
@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT])
def test_a_body_nested_too_deep_is_a_400_on_every_json_entry_point(api, release, method, path, body):
    response = api.generic(method, path, body, content_type="application/json")

    assert response.status_code == 400, response.content[:200]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/0/organizations/acme/releases/", {"version": "2.0\u0000", "projects": ["web"]}),
        ("/api/0/organizations/acme/releases/", {"version": "2.0", "projects": ["w\u0000b"]}),
        ("/api/0/organizations/acme/releases/", {"version": "2.0", "projects": ["web"], "ref": "\u0000"}),
        ("/api/0/organizations/acme/releases/1.0.0/deploys/", {"environment": "prod\u0000"}),
        ("/api/0/organizations/acme/releases/1.0.0/deploys/", {"environment": "prod", "name": "\u0000"}),
    ],
)
def test_a_nul_in_a_sentry_body_is_a_400_and_stores_nothing(api, release, path, body):
    response = api.post(path, body, format="json")

    assert response.status_code == 400
    assert (Release.objects.count(), Deployment.objects.count()) == (1, 0)


def test_a_signed_form_encoded_github_hook_nested_too_deep_is_a_400(org, client):
    org.github_webhook_secret = SECRET
    org.save(update_fields=["github_webhook_secret"])
    body = b"payload=" + DEEP.replace(b"[", b"%5B").replace(b"]", b"%5D")

    response = client.post(
        "/hooks/github/acme/",
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_GITHUB_EVENT="deployment",
        HTTP_X_GITHUB_DELIVERY="d-form",
        HTTP_X_HUB_SIGNATURE_256=sign(body),
    )

    assert response.status_code == 400
