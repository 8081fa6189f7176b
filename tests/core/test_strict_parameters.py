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
