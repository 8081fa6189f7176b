"""Isolation matrix of the native API: Charlie's organization never sees or touches Acme's data.

Acme (``org``) owns one of everything; ``other_api`` holds a write token of Globex. Every detail,
PATCH and nested POST on Acme's objects is a 404 for Globex, exactly like an id that does not
exist; lists and filters never return Acme's rows.
"""

import json

import pytest

from deployments.models import Deployment, Environment
from deployments.services import deployment_record
from releases.models import Commit, Project, Release, Repository
from releases.services import CommitInput, release_create, repository_get_or_create

SHA = "a" * 40


@pytest.fixture
def acme(org):
    release, _ = release_create(
        organization=org,
        version="1.0.0",
        projects=["secret-api"],
        commits=[CommitInput(sha=SHA, repository="acme/secret", message="Top secret")],
    )
    deployment, _ = deployment_record(
        organization=org, environment="acme-prod", release="1.0.0", external_id="acme-run-1"
    )
    return {
        "releases": release,
        "deployments": deployment,
        "environments": Environment.objects.get(organization=org),
        "projects": Project.objects.get(organization=org),
        "repositories": repository_get_or_create(organization=org, name="acme/secret"),
        "commits": Commit.objects.get(organization=org),
    }


RESOURCES = ["releases", "deployments", "environments", "projects", "repositories", "commits"]


def post(client, url, body, **headers):
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


def assert_not_found(response) -> None:
    assert response.status_code == 404, response.content
    body = response.json()
    assert body["code"] == "not_found"
    # Nothing of the object leaks into the error.
    assert "1.0.0" not in body["error"] and "secret" not in body["error"]


@pytest.mark.parametrize("resource", RESOURCES)
def test_another_organizations_object_is_a_404_on_detail(other_api, acme, resource):
    assert_not_found(other_api.get(f"/api/v1/{resource}/{acme[resource].public_id}/"))


@pytest.mark.parametrize(
    ("resource", "change"),
    [
        ("releases", {"status": "failure", "name": "pwned"}),
        ("deployments", {"status": "failure", "title": "pwned"}),
        ("environments", {"name": "pwned", "is_production": True}),
    ],
)
def test_another_organizations_object_is_a_404_on_patch_and_is_unchanged(other_api, acme, resource, change):
    response = other_api.patch(f"/api/v1/{resource}/{acme[resource].public_id}/", change, format="json")

    assert_not_found(response)
    acme[resource].refresh_from_db()
    assert all(getattr(acme[resource], name) != value for name, value in change.items())


def test_appending_commits_to_another_organizations_release_is_a_404(other_api, acme):
    response = post(other_api, f"/api/v1/releases/{acme['releases'].public_id}/commits/", {"commits": ["b" * 40]})

    assert_not_found(response)
    assert acme["releases"].release_commits.count() == 1
    assert not Commit.objects.filter(sha="b" * 40).exists()


@pytest.mark.parametrize("resource", RESOURCES)
def test_another_organizations_objects_never_appear_in_lists(other_api, acme, resource):
    response = other_api.get(f"/api/v1/{resource}/")

    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/releases/?project=secret-api",
        "/api/v1/releases/?environment=acme-prod",
        "/api/v1/releases/?version=1.0.0",
        "/api/v1/releases/?q=1.0",
        "/api/v1/deployments/?environment=acme-prod",
        "/api/v1/deployments/?project=secret-api",
        "/api/v1/deployments/?release=1.0.0",
        f"/api/v1/commits/?sha={SHA}",
        "/api/v1/commits/?repository=acme/secret",
    ],
)
def test_filtering_by_another_organizations_names_gives_nothing(other_api, acme, url):
    response = other_api.get(url)

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_the_same_names_in_two_organizations_are_independent(other_api, api, acme):
    theirs = post(other_api, "/api/v1/releases/", {"version": "1.0.0", "projects": ["secret-api"], "commits": [SHA]})
    env = post(other_api, "/api/v1/environments/", {"name": "acme-prod"})

    assert theirs.status_code == 201
    assert env.status_code == 201
    assert theirs.json()["id"] != str(acme["releases"].public_id)
    assert Release.objects.filter(version="1.0.0").count() == 2
    assert [r["version"] for r in api.get("/api/v1/releases/").json()["results"]] == ["1.0.0"]
    assert api.get("/api/v1/releases/").json()["results"][0]["id"] == str(acme["releases"].public_id)


def test_a_deployment_never_attaches_to_another_organizations_release(other_api, acme):
    by_version = post(other_api, "/api/v1/deployments/", {"environment": "production", "release": "1.0.0"})
    by_sha = post(other_api, "/api/v1/deployments/", {"environment": "production", "commit_sha": SHA})

    assert by_version.status_code == 400
    assert by_version.json()["fields"].keys() == {"release"}
    assert by_sha.status_code == 201
    assert by_sha.json()["release"] is None and by_sha.json()["release_id"] is None
    assert acme["releases"].deployments.count() == 1


def test_an_external_id_of_another_organization_is_not_a_repeat(other_api, acme):
    body = {"environment": "acme-prod", "commit_sha": SHA, "external_id": "acme-run-1"}

    response = post(other_api, "/api/v1/deployments/", body)

    assert response.status_code == 201
    assert response.json()["id"] != str(acme["deployments"].public_id)
    assert Deployment.objects.count() == 2


def test_an_idempotency_key_of_another_organization_replays_nothing(api, other_api, acme):
    mine = post(api, "/api/v1/projects/", {"name": "shared-name"}, HTTP_IDEMPOTENCY_KEY="same-key")

    theirs = post(other_api, "/api/v1/projects/", {"name": "shared-name"}, HTTP_IDEMPOTENCY_KEY="same-key")

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert "Idempotent-Replayed" not in theirs


def test_creating_a_repository_of_the_same_name_in_another_organization_creates_its_own(other_api, acme):
    response = post(other_api, "/api/v1/repositories/", {"name": "acme/secret"})

    assert response.status_code == 201
    assert response.json()["id"] != str(acme["repositories"].public_id)
    assert Repository.objects.filter(name="acme/secret").count() == 2
