import pytest

from deployments.models import DeploymentStatus
from tests.pages.conftest import T0, deploy, make_release

pytestmark = pytest.mark.django_db


def live(response) -> dict[str, list[tuple[str, str]]]:
    return {
        group["environment"].name: [(d.project.name, d.release.version) for d in group["deployments"]]
        for group in response.context["live"]
    }


def test_it_shows_which_version_is_live_where_after_a_failed_deployment(alice_client, history):
    response = alice_client.get("/orgs/acme/deployments/")
    assert response.status_code == 200
    # 1.1.0 failed in production and 1.0.0 went back; 1.2.0 (web) is still in progress in staging.
    assert live(response) == {"production": [("api", "1.0.0")], "staging": [("api", "1.1.0")]}
    assert [d.release.version for d in response.context["page"].object_list] == [
        "1.2.0",
        "1.0.0",
        "1.1.0",
        "1.1.0",
        "1.0.0",
        "1.0.0",
    ]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("environment=production", ["1.0.0", "1.1.0", "1.0.0"]),
        ("project=web", ["1.2.0"]),
        ("status=failure", ["1.1.0"]),
        ("environment=staging&status=in_progress", ["1.2.0"]),
        ("since=2026-03-03", ["1.2.0"]),
    ],
)
def test_deployments_filter_by_environment_project_status_and_date(alice_client, history, query, expected):
    response = alice_client.get(f"/orgs/acme/deployments/?{query}")
    assert response.status_code == 200
    assert [d.release.version for d in response.context["page"].object_list] == expected


def test_live_now_follows_the_environment_filter(alice_client, history):
    response = alice_client.get("/orgs/acme/deployments/?environment=staging")
    assert live(response) == {"staging": [("api", "1.1.0")]}


def test_a_bad_deployment_filter_is_a_400(alice_client, history):
    response = alice_client.get("/orgs/acme/deployments/?status=succes")
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_empty_deployments_page_says_what_to_do(alice_client, org):
    body = alice_client.get("/orgs/acme/deployments/").content.decode()
    assert "No deployment recorded yet" in body and "POST /api/v1/deployments/" in body


@pytest.mark.parametrize("per_page", [10, 50])
def test_deployments_query_count_does_not_grow_with_rows(alice_client, org, django_assert_max_num_queries, per_page):
    for i in range(per_page):
        release = make_release(org, f"7.{i}.0", at=T0, projects=(f"p{i % 5}",), commits=1)
        # Failures among them: each failed change is shown with what restored it.
        deploy(org, release, "production", at=T0, status="failure" if i % 4 == 1 else DeploymentStatus.SUCCESS)
    with django_assert_max_num_queries(11):
        response = alice_client.get(f"/orgs/acme/deployments/?per_page={per_page}")
    assert len(response.context["page"].object_list) == per_page


def test_deployments_of_another_organization_are_404(charlie_client, history):
    assert charlie_client.get("/orgs/acme/deployments/").status_code == 404
