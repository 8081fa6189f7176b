"""A release's lists are counted before anything is done with them, on every entry point.

A write token could otherwise make one request create thousands of project rows, or keep a
worker busy cleaning a list that is refused anyway.
"""

import pytest

from releases.models import Project, Release
from releases.services import MAX_PROJECTS, MAX_REFS


def names(count: int) -> list[str]:
    return [f"project-{index}" for index in range(count)]


@pytest.mark.parametrize("factor", [1, 10, 100])
def test_a_sentry_create_with_too_many_projects_is_refused_and_stores_nothing(api, org, factor):
    response = api.post(
        f"/api/0/organizations/{org.slug}/releases/",
        {"version": "9.9.9", "projects": names(MAX_PROJECTS * factor + 1)},
        format="json",
    )

    assert response.status_code == 400
    assert "projects" in response.json()["detail"]
    assert not Release.objects.exists()
    assert not Project.objects.exists()


def test_a_sentry_create_with_as_many_projects_as_allowed_is_stored(api, org):
    response = api.post(
        f"/api/0/organizations/{org.slug}/releases/",
        {"version": "9.9.9", "projects": names(MAX_PROJECTS)},
        format="json",
    )

    assert response.status_code == 201
    assert Project.objects.filter(organization=org).count() == MAX_PROJECTS


def test_a_native_create_with_too_many_refs_is_refused(api, org):
    refs = [{"repository": f"acme/r{index}", "commit": "a" * 40} for index in range(MAX_REFS + 1)]

    response = api.post("/api/v1/releases/", {"version": "1.0.0", "refs": refs}, format="json")

    assert response.status_code == 400
    assert "refs" in response.json()["error"]
    assert not Release.objects.exists()


def test_a_release_update_with_too_many_projects_is_refused(api, org):
    created = api.post("/api/v1/releases/", {"version": "1.0.0"}, format="json").json()

    response = api.patch(f"/api/v1/releases/{created['id']}/", {"projects": names(MAX_PROJECTS + 1)}, format="json")

    assert response.status_code == 400
    assert "projects" in response.json()["error"]
    assert not Project.objects.exists()
