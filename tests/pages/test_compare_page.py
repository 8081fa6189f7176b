"""The compare page: the form, what the head brings over the base, and the links to it."""

import re
from datetime import timedelta

import pytest

from deployments.services import deployment_record
from releases.services import CommitInput, release_create
from tests.pages.conftest import T0
from tests.releases.compare_scenario import build, sha

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(org):
    return build(org)


def test_it_lists_the_commits_with_authors_pull_requests_and_the_releases_they_came_in(alice_client, history):
    response = alice_client.get("/orgs/acme/compare/", {"base": "1.0.0", "head": "1.2.0"})

    assert response.status_code == 200
    body = response.content.decode()
    assert [c.commit.sha for c in response.context["comparison"].commits] == [sha(5), sha(4), sha(3)]
    assert "3 commits</strong> in 2 releases" in body
    assert "Dana Kaur" in body and "Chen Wei" in body and "Bob Stone" not in body
    assert 'href="https://github.com/acme/web/pull/44" rel="noopener noreferrer">#44</a>' in body
    assert f'href="https://github.com/acme/web/commit/{sha(4)}"' in body
    came_in = re.search(r'data-label="Came in"[^>]*>(.*?)</td>', body.split(sha(4), 1)[1], re.S).group(1)
    assert ">1.1.0</a>" in came_in and ">1.2.0</a>" in came_in


def test_it_compares_what_is_live_in_two_environments(alice_client, history):
    response = alice_client.get(
        "/orgs/acme/compare/", {"base_environment": "production", "head_environment": "staging", "project": "web"}
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "Live in production: 1.0.0." in body and "Live in staging: 1.2.0." in body
    assert response.context["comparison"].ahead_by == 3


def test_a_head_older_than_the_base_offers_to_swap_them(alice_client, history):
    body = alice_client.get("/orgs/acme/compare/", {"base": "1.2.0", "head": "1.0.0"}).content.decode()

    assert "The head is older than the base" in body
    assert 'href="?base=1.0.0&amp;head=1.2.0">swap them</a>' in body


def test_an_unknown_version_or_different_projects_are_shown_in_the_form(alice_client, history):
    unknown = alice_client.get("/orgs/acme/compare/", {"base": "1.0.0", "head": "9.9.9"})
    assert unknown.status_code == 404
    assert "no release &#x27;9.9.9&#x27;" in unknown.content.decode()
    assert unknown.context["form"].errors == {"head": ["no release '9.9.9'"]}

    apart = alice_client.get("/orgs/acme/compare/", {"base": "1.0.0", "head": "api-1.0"})
    assert apart.status_code == 400 and "project" in apart.context["form"].errors


def test_without_a_choice_the_page_shows_the_form(alice_client, history):
    response = alice_client.get("/orgs/acme/compare/")

    assert response.status_code == 200 and response.context["comparison"] is None
    body = response.content.decode()
    assert 'name="base"' in body and 'name="head_environment"' in body
    assert '<option value="1.3.0">' in body  # the versions to complete
    assert 'aria-current="page">Compare</a>' in body


def test_another_organizations_page_or_version_is_a_404(alice_client, charlie_client, history, other_org):
    release_create(organization=other_org, version="7.0.0")
    assert charlie_client.get("/orgs/acme/compare/", {"base": "1.0.0", "head": "1.2.0"}).status_code == 404
    assert alice_client.get("/orgs/acme/compare/", {"base": "1.0.0", "head": "7.0.0"}).status_code == 404


def test_the_release_page_links_to_the_previous_release_and_to_production(alice_client, history):
    body = alice_client.get("/orgs/acme/releases/1.2.0/").content.decode()

    assert 'href="/orgs/acme/compare/?base=1.1.0&amp;head=1.2.0&amp;project=web"' in body
    assert 'href="/orgs/acme/compare/?base_environment=production&amp;head=1.2.0&amp;project=web"' in body
    assert "Compare with the previous release" in body and "Compare with what is in production" in body
    # The first release of a project has no previous one (api-1.0 was recorded before 1.2.0).
    first = alice_client.get("/orgs/acme/releases/api-1.0/").content.decode()
    assert "Compare with the previous release" not in first


def test_the_pages_link_the_api_docs(alice_client, history):
    body = alice_client.get("/orgs/acme/compare/").content.decode()

    assert 'href="/api/v1/docs/"' in body


@pytest.mark.parametrize("count", [2, 40])
def test_the_query_count_does_not_grow_with_commits_or_releases(
    alice_client, org, django_assert_max_num_queries, count
):
    for i in range(count):
        release, _ = release_create(
            organization=org,
            version=f"3.{i}.0",
            projects=["web"],
            commits=[CommitInput(sha=f"{i:04x}{j:036x}", author_name=f"A{j}", pr_number=j) for j in range(count)],
            created_at=T0 + timedelta(hours=i),
        )
        deployment_record(
            organization=org,
            environment="production" if i == 0 else "staging",
            release=release,
            project="web",
            finished_at=T0 + timedelta(hours=i, minutes=5),
        )
    with django_assert_max_num_queries(14):
        by_version = alice_client.get("/orgs/acme/compare/", {"base": "3.0.0", "head": f"3.{count - 1}.0"})
    with django_assert_max_num_queries(18):
        by_environment = alice_client.get(
            "/orgs/acme/compare/", {"base_environment": "production", "head_environment": "staging"}
        )
    assert by_version.context["comparison"].ahead_by == (count - 1) * count
    assert by_environment.context["comparison"].ahead_by == (count - 1) * count
