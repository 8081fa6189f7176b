"""The environments page: the live matrix, projects × environments, stale cells marked in words."""

import re

import pytest

from tests.deployments.test_live import live_scenario
from tests.pages.conftest import T0, deploy, make_release

pytestmark = pytest.mark.django_db


@pytest.fixture
def matrix(org, other_org):
    return live_scenario(org, other_org)


def cell_text(body: str, project: str, environment: str) -> str:
    row = re.search(rf'<th scope="row" class="matrix__project">{project}</th>(.*?)</tr>', body, re.S).group(1)
    cell = re.search(rf'<td data-env="{environment}"[^>]*>(.*?)</td>', row, re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", " ", cell).split())


def test_it_shows_each_projects_live_release_per_environment_with_stale_cells_marked_in_words(alice_client, matrix):
    response = alice_client.get("/orgs/acme/environments/")

    assert response.status_code == 200
    body = response.content.decode()
    assert cell_text(body, "web", "production").startswith("web-1.0 ⚠ 3 releases behind")
    assert "alice" in cell_text(body, "web", "production")
    assert cell_text(body, "web", "staging").startswith("web-3.0 ⚠ 1 release behind")
    assert cell_text(body, "web", "dev").startswith("web-4.0 ✓ newest")
    assert cell_text(body, "api", "dev") == "— nothing live"
    assert body.count("matrix__cell--stale") == 3
    assert "globexsecret" not in body


def test_it_filters_by_project_and_environment(alice_client, matrix):
    body = alice_client.get("/orgs/acme/environments/?project=web&environment=staging").content.decode()

    assert cell_text(body, "web", "staging").startswith("web-3.0")
    assert 'data-env="production"' not in body and 'matrix__project">api' not in body


def test_a_bad_filter_is_a_400_that_says_so(alice_client, matrix):
    response = alice_client.get("/orgs/acme/environments/?environment=nowhere")

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_the_empty_page_says_what_to_do(alice_client, org):
    body = alice_client.get("/orgs/acme/environments/").content.decode()

    assert "No environment has a successful deployment yet" in body


def test_another_organizations_matrix_is_a_404(charlie_client, matrix):
    assert charlie_client.get("/orgs/acme/environments/").status_code == 404


@pytest.mark.parametrize("projects", [2, 12])
def test_the_query_count_does_not_grow_with_the_matrix(alice_client, org, django_assert_max_num_queries, projects):
    for n in range(projects):
        older = make_release(org, f"p{n}-1", at=T0, projects=(f"p{n}",))
        newer = make_release(org, f"p{n}-2", at=T0 + (n + 1) * T0.resolution * 10**6, projects=(f"p{n}",))
        deploy(org, older, "production", at=T0, project=f"p{n}")
        deploy(org, newer, "staging", at=T0, project=f"p{n}")
        deploy(org, None, f"e{n}", at=T0, commit_sha=f"{n:02x}" * 20)
    with django_assert_max_num_queries(9):
        response = alice_client.get("/orgs/acme/environments/")
    assert response.content.decode().count("1 release behind") == projects
