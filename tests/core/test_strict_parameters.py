"""Query parameters follow one rule: a value that cannot be read is a 400 naming the parameter,
never a silently dropped filter (which would answer the whole list as if it were filtered)."""

import pytest

from tests.factories import DeploymentFactory


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("is_hotfix=maybe", "is_hotfix"),
        ("is_production=yes-please", "is_production"),
        ("status=bogus", "status"),
        ("page_size=abc", "page_size"),
        ("page_size=0", "page_size"),
        ("page_size=-5", "page_size"),
    ],
)
def test_an_unreadable_parameter_is_a_400_naming_it(api, query, parameter):
    response = api.get(f"/api/v1/deployments/?{query}")

    assert response.status_code == 400
    assert parameter in response.json()["fields"]


@pytest.mark.parametrize(("value", "hotfixes"), [("true", 1), ("false", 2), ("1", 1), ("0", 2), ("", 3)])
def test_booleans_filter_as_written(api, org, value, hotfixes):
    DeploymentFactory(organization=org, is_hotfix=True)
    DeploymentFactory.create_batch(2, organization=org, is_hotfix=False)

    response = api.get(f"/api/v1/deployments/?is_hotfix={value}")

    assert response.status_code == 200
    assert len(response.json()["results"]) == hotfixes


def test_a_page_size_above_the_cap_is_capped(api, org):
    DeploymentFactory.create_batch(3, organization=org)

    response = api.get("/api/v1/deployments/?page_size=100000")

    assert response.status_code == 200
    assert len(response.json()["results"]) == 3


def test_an_unreadable_archived_filter_on_releases_is_a_400_naming_it(api):
    response = api.get("/api/v1/releases/?archived=maybe")

    assert response.status_code == 400
    assert "archived" in response.json()["fields"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/releases/", {"version": "1.0.0", "projects": ["web", 0]}, "projects.1"),
        ("/api/v1/releases/", {"version": "1.0.0", "commits": [{"sha": "a" * 40, "message": 0}]}, "commits.0.message"),
        (
            "/api/v1/releases/",
            {"version": "1.0.0", "commits": [{"sha": "a" * 40, "pr_number": "7"}]},
            "commits.0.pr_number",
        ),
        ("/api/v1/releases/", {"version": "1.0.0", "refs": [{"repository": "acme/web", "commit": 7}]}, "refs.0.commit"),
        (
            "/api/v1/webhooks/",
            {"url": "https://hooks.example.com/r", "events": ["deployment.requested"], "is_active": "yes"},
            "is_active",
        ),
        (
            "/api/v1/webhooks/",
            {"url": "https://hooks.example.com/r", "events": ["deployment.requested"], "description": 0},
            "description",
        ),
        (
            "/api/v1/webhooks/",
            {"url": "https://hooks.example.com/r", "events": ["deployment.requested"], "secert": "x"},
            "secert",
        ),
    ],
)
def test_a_nested_or_listed_value_of_the_wrong_json_type_is_refused_not_coerced(api, path, body, field):
    response = api.post(path, body, format="json")

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert api.get(path).json()["results"] == []


@pytest.mark.parametrize("sha", ["zz", "abc", "g" * 40])
def test_a_commit_sha_filter_that_is_no_sha_prefix_is_a_400_naming_it(api, sha):
    response = api.get(f"/api/v1/commits/?sha={sha}")

    assert response.status_code == 400
    assert "sha" in response.json()["fields"]
