"""GET /api/v1/compare/: the commits one release brings over another, by version or by environment."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from deployments.services import deployment_record
from releases.services import CommitInput, release_create
from tests.deployments.test_commits_shipped import rows_read_in_all
from tests.releases.compare_scenario import T0, build, sha

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(org):
    return build(org)


def compare(client, **params):
    return client.get("/api/v1/compare/", params)


def shas(body) -> list[str]:
    return [c["sha"] for c in body["commits"]]


def test_it_lists_the_commits_head_brings_over_base_once_each_with_authors_prs_and_releases(read_api, history):
    response = compare(read_api, base="1.0.0", head="1.2.0")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["ahead_by"], body["behind_by"], body["truncated"]) == ("ahead", 3, 0, False)
    # Newest first; commit 2 was already in 1.0.0; api-1.0's commit 9 is another project's.
    assert shas(body) == [sha(5), sha(4), sha(3)]
    by_sha = {c["sha"]: c for c in body["commits"]}
    assert by_sha[sha(4)]["releases"] == ["1.1.0", "1.2.0"]
    assert by_sha[sha(4)]["pr_number"] == 44
    assert by_sha[sha(4)]["author_name"] == "Dana Kaur"
    assert by_sha[sha(4)]["author_email"] == "author4@example.com"
    assert by_sha[sha(4)]["repository"] == "acme/web"
    assert by_sha[sha(3)]["releases"] == ["1.1.0"] and by_sha[sha(3)]["pr_number"] is None
    assert body["projects"] == ["web"]
    assert [r["version"] for r in body["releases"]] == ["1.1.0", "1.2.0"] and body["release_count"] == 2
    assert body["base"]["version"] == "1.0.0" and body["head"]["id"] == str(history.releases["1.2.0"].public_id)


def test_a_commit_already_in_base_or_earlier_is_not_brought_again(read_api, history):
    body = compare(read_api, base="1.1.0", head="1.3.0").json()

    # 1.3.0 lists commit 1 again (shipped in 1.0.0) and 4 came in 1.1.0, the base.
    assert shas(body) == [sha(6), sha(5)]
    assert body["ahead_by"] == 2


def test_a_base_without_projects_still_counts_as_shipped(read_api, org):
    release_create(organization=org, version="0.9.0", commits=[CommitInput(sha=sha(7))], created_at=T0)
    release_create(
        organization=org,
        version="0.9.1",
        projects=["web"],
        commits=[CommitInput(sha=sha(7)), CommitInput(sha=sha(8))],
        created_at=T0 + timedelta(hours=1),
    )

    body = compare(read_api, base="0.9.0", head="0.9.1").json()

    assert (shas(body), body["projects"]) == ([sha(8)], ["web"])


def test_a_head_older_than_its_base_is_behind_and_brings_nothing(read_api, history):
    body = compare(read_api, base="1.2.0", head="1.0.0").json()

    assert (body["status"], body["ahead_by"], body["behind_by"], body["commits"]) == ("behind", 0, 3, [])


def test_a_release_compared_with_itself_is_identical(read_api, history):
    body = compare(read_api, base="1.1.0", head="1.1.0").json()

    assert (body["status"], body["ahead_by"], body["behind_by"]) == ("identical", 0, 0)


def test_the_commit_list_is_capped_by_limit_while_ahead_by_counts_all(read_api, history):
    body = compare(read_api, base="1.0.0", head="1.3.0", limit=2).json()

    assert body["ahead_by"] == 4 and body["truncated"] is True
    assert shas(body) == [sha(6), sha(5)]


@pytest.mark.parametrize("limit", ["0", "1001", "many"])
def test_it_refuses_a_limit_out_of_range(read_api, history, limit):
    response = compare(read_api, base="1.0.0", head="1.2.0", limit=limit)

    assert response.status_code == 400 and "limit" in response.json()["fields"]


def test_an_unknown_version_is_a_404_naming_the_parameter(read_api, history):
    response = compare(read_api, base="1.0.0", head="9.9.9")

    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "not_found" and body["error"] == "head: no release '9.9.9'"


def test_another_organizations_version_is_unknown(other_api, history, other_org):
    release_create(organization=other_org, version="7.0.0", projects=["web"])

    response = compare(other_api, base="7.0.0", head="1.2.0")

    assert response.status_code == 404 and list(response.json()["fields"]) == ["head"]
    assert "Dana" not in response.content.decode()


def test_releases_of_different_projects_need_a_project(read_api, history):
    response = compare(read_api, base="1.0.0", head="api-1.0")

    assert response.status_code == 400
    body = response.json()
    assert list(body["fields"]) == ["project"] and "different projects" in body["error"]


def test_with_a_project_named_both_versions_must_be_of_it(read_api, history):
    assert compare(read_api, base="1.0.0", head="1.2.0", project="web").json()["ahead_by"] == 3
    response = compare(read_api, base="1.0.0", head="api-1.0", project="web")
    assert response.status_code == 404
    assert response.json()["error"] == "head: no release 'api-1.0' of project web"
    unknown = compare(read_api, base="1.0.0", head="1.2.0", project="mobile")
    assert unknown.status_code == 404 and list(unknown.json()["fields"]) == ["project"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"head": "1.2.0"}, "base"),
        ({"base": "1.0.0"}, "head"),
        ({"base": "1.0.0", "head": "1.2.0", "head_environment": "staging"}, "head"),
        ({"base": "1.0.0", "head": "1.2.0\x00"}, "head"),
        ({"base": "v" * 201, "head": "1.2.0"}, "base"),
    ],
)
def test_it_refuses_a_side_named_twice_or_not_at_all(read_api, history, params, field):
    response = compare(read_api, **params)

    assert response.status_code == 400 and field in response.json()["fields"]


def test_it_needs_a_token_with_read_scope(history):
    assert APIClient().get("/api/v1/compare/", {"base": "1.0.0", "head": "1.2.0"}).status_code == 401


# Between environments ---------------------------------------------------------------------------


def test_it_compares_what_is_live_in_two_environments(read_api, history):
    response = compare(read_api, base_environment="production", head_environment="staging", project="web")

    assert response.status_code == 200
    body = response.json()
    # Live: 1.0.0 in production, 1.2.0 in staging (1.3.0 failed there, so it is not live).
    assert (body["base"]["version"], body["head"]["version"]) == ("1.0.0", "1.2.0")
    assert (body["base_environment"], body["head_environment"]) == ("production", "staging")
    assert shas(body) == [sha(5), sha(4), sha(3)]
    assert [r["version"] for r in body["releases"]] == ["1.1.0", "1.2.0"]


def test_an_environment_and_a_version_can_be_compared(read_api, history):
    body = compare(read_api, base_environment="production", head="1.3.0").json()

    assert body["base"]["version"] == "1.0.0" and body["ahead_by"] == 4


def test_environments_running_several_projects_need_a_project(read_api, history, org):
    deployment_record(
        organization=org,
        environment="staging",
        release=history.releases["api-1.0"],
        project="api",
        finished_at=T0,
    )

    response = compare(read_api, base_environment="production", head_environment="staging")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["project"]
    assert (
        compare(read_api, base_environment="production", head_environment="staging", project="web").json()["ahead_by"]
        == 3
    )


def test_without_a_project_environments_of_one_project_are_compared(read_api, history):
    body = compare(read_api, base_environment="production", head_environment="staging").json()

    assert body["ahead_by"] == 3 and body["projects"] == ["web"]


def test_an_unknown_environment_or_one_with_nothing_live_is_a_404_naming_it(read_api, history, org):
    unknown = compare(read_api, base_environment="qa", head_environment="staging", project="web")
    assert unknown.status_code == 404 and list(unknown.json()["fields"]) == ["base_environment"]

    failed_only, _ = release_create(organization=org, version="2.0.0", projects=["web"])
    deployment_record(
        organization=org, environment="canary", release=failed_only, project="web", status="failure", finished_at=T0
    )
    nothing_live = compare(read_api, base_environment="production", head_environment="canary", project="web")
    assert nothing_live.status_code == 404
    assert nothing_live.json()["error"] == "head_environment: no release of project web is live in canary"


def test_another_organizations_environment_is_unknown(other_api, history, other_org):
    response = compare(other_api, base_environment="production", head_environment="staging")

    assert response.status_code == 404 and list(response.json()["fields"]) == ["base_environment"]


# Query counts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 60])
def test_the_query_count_does_not_grow_with_releases_or_commits(read_api, org, django_assert_max_num_queries, count):
    for i in range(count):
        release, _ = release_create(
            organization=org,
            version=f"3.{i}.0",
            projects=["web"],
            commits=[CommitInput(sha=f"{i:04x}{j:036x}", author_name=f"A{j}") for j in range(count)],
            created_at=T0 + timedelta(hours=i),
        )
        deployment_record(
            organization=org,
            environment="production" if i == 0 else "staging",
            release=release,
            project="web",
            finished_at=T0 + timedelta(hours=i, minutes=5),
        )
    with django_assert_max_num_queries(12):
        by_version = compare(read_api, base="3.0.0", head=f"3.{count - 1}.0")
    with django_assert_max_num_queries(16):
        by_environment = compare(read_api, base_environment="production", head_environment="staging")
    assert by_version.json()["ahead_by"] == by_environment.json()["ahead_by"] == (count - 1) * count


# The API's index ----------------------------------------------------------------------------------


def test_the_api_root_is_an_index_linking_the_docs_and_every_resource(db):
    response = APIClient().get("/api/v1/")

    assert response.status_code == 200
    body = response.json()
    assert body["docs"] == "http://testserver/api/v1/docs/"
    assert body["schema"] == "http://testserver/api/v1/schema/"
    assert body["endpoints"]["compare"] == "http://testserver/api/v1/compare/"
    assert {"organization", "releases", "deployments", "environments", "commits", "metrics/dora"} <= set(
        body["endpoints"]
    )
    for url in body["endpoints"].values():
        assert APIClient().get(url).status_code == 401  # each one is real, and guarded


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plans checked here are PostgreSQL's")
def test_it_reads_what_the_compare_lists_never_the_history(org):
    from releases.models import Commit, Project, Release, ReleaseCommit, ReleaseProject
    from releases.selectors import release_compare, release_list
    from tests.plans import explain_analyze

    releases, per_release = 2000, 4
    project = Project.objects.create(organization=org, name="web")
    old = Release.objects.bulk_create(
        Release(organization=org, version=f"0.{n}", created_at=T0 + timedelta(minutes=n)) for n in range(releases)
    )
    ReleaseProject.objects.bulk_create(ReleaseProject(organization=org, release=r, project=project) for r in old)
    # Every release is also of 4 other projects: tables of a few hundred rows are cheapest read
    # whole, and the planner rightly does so; at these sizes it must not.
    others = Project.objects.bulk_create(Project(organization=org, name=f"other-{i}") for i in range(4))
    ReleaseProject.objects.bulk_create(
        ReleaseProject(organization=org, release=r, project=other) for r in old for other in others
    )
    commits = Commit.objects.bulk_create(
        Commit(organization=org, sha=f"{n:040x}", timestamp=T0 + timedelta(seconds=n))
        for n in range(releases * per_release)
    )
    ReleaseCommit.objects.bulk_create(
        ReleaseCommit(organization=org, release=old[n // per_release], commit=commit, position=n % per_release)
        for n, commit in enumerate(commits)
    )
    with connection.cursor() as cursor:
        for table in ("releases_commit", "releases_releasecommit", "releases_release", "releases_releaseproject"):
            cursor.execute(f"ANALYZE {table}")
    base, head = release_list(organization=org).filter(version__in=["0.1997", "0.1999"]).order_by("created_at")

    with CaptureQueriesContext(connection) as ctx:
        comparison = release_compare(organization=org, base=base, head=head, project=project)

    assert comparison.ahead_by == 2 * per_release and comparison.release_count == 2
    assert len(ctx.captured_queries) == 5
    # In proportion to the 8 commits compared, never to the 2,000 releases and 8,000 commits of the history.
    for query in ctx.captured_queries:
        read = rows_read_in_all(explain_analyze(query["sql"], None))
        assert read <= 10 * comparison.ahead_by, (read, query["sql"])
