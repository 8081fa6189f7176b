"""GET /api/v1/environments/live/: what is live where, on a scenario whose answer is known."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deployments.models import Deployment, DeploymentStatus, Environment
from releases.models import Project
from tests.pages.conftest import T0, deploy, make_release
from tests.plans import explain_analyze

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


def live_scenario(org, other_org):
    """Two projects × three environments.

    web: 1.0 … 4.0; 4.0 is live in dev; staging has 3.0 live (its later 4.0 failed); production
    has 1.0. api: 1.0 live in production, 2.0 in staging, nothing in dev.
    """
    web = [make_release(org, f"web-{n}.0", at=T0 + n * H, projects=("web",)) for n in range(1, 5)]
    api = [make_release(org, f"api-{n}.0", at=T0 + n * H, projects=("api",)) for n in range(1, 3)]
    deploy(org, web[0], "production", at=T0 + 10 * H, project="web", triggered_by="alice")
    deploy(org, web[2], "staging", at=T0 + 11 * H, project="web")
    deploy(org, web[3], "staging", at=T0 + 12 * H, project="web", status=DeploymentStatus.FAILURE)
    deploy(org, web[3], "dev", at=T0 + 12 * H, project="web")
    deploy(org, api[0], "production", at=T0 + 10 * H, project="api")
    deploy(org, api[1], "staging", at=T0 + 11 * H, project="api")
    # Another organization: same names, a newer release everywhere; none of it may show.
    theirs = make_release(other_org, "web-9.0-globexsecret", at=T0 + 20 * H, projects=("web",))
    for environment in ("production", "staging", "dev"):
        deploy(other_org, theirs, environment, at=T0 + 21 * H, project="web")
    return {"web": web, "api": api}


@pytest.fixture
def matrix(org, other_org):
    return live_scenario(org, other_org)


def cells(response) -> dict[tuple[str, str], tuple]:
    assert response.status_code == 200, response.content
    return {
        (c["project"], c["environment"]): (c["release"], c["behind"], c["stale"]) for c in response.json()["results"]
    }


def test_it_answers_each_projects_live_release_per_environment_and_how_far_behind_it_is(read_api, matrix):
    response = read_api.get("/api/v1/environments/live/")

    assert cells(response) == {
        ("api", "production"): ("api-1.0", 1, True),
        ("api", "staging"): ("api-2.0", 0, False),
        ("web", "production"): ("web-1.0", 3, True),
        ("web", "staging"): ("web-3.0", 1, True),
        ("web", "dev"): ("web-4.0", 0, False),
    }
    body = response.json()
    assert body["count"] == 2 and body["next"] is None and body["previous"] is None
    assert [env["name"] for env in body["environments"]] == ["production", "dev", "staging"]
    assert "globexsecret" not in response.content.decode()


def test_a_failed_latest_deployment_is_not_what_is_live(read_api, matrix):
    [staging] = read_api.get("/api/v1/environments/live/?project=web&environment=staging").json()["results"]

    assert staging["release"] == "web-3.0"
    assert staging["deployed_at"] == (T0 + 11 * H).isoformat().replace("+00:00", "Z")


def test_it_says_who_deployed_and_which_deployment_is_live(read_api, matrix):
    [production] = read_api.get("/api/v1/environments/live/?project=web&environment=production").json()["results"]

    assert production["deployed_by"] == "alice"
    detail = read_api.get(f"/api/v1/deployments/{production['deployment']}/").json()
    assert detail["release"] == "web-1.0" and detail["environment"] == "production"


def test_behind_counts_every_environment_even_when_one_is_asked_for(read_api, matrix):
    assert cells(read_api.get("/api/v1/environments/live/?environment=production")) == {
        ("api", "production"): ("api-1.0", 1, True),
        ("web", "production"): ("web-1.0", 3, True),
    }


def test_a_deployment_of_a_bare_sha_without_project_makes_a_last_row_with_no_behind(org, read_api, matrix):
    deploy(org, None, "production", at=T0 + 13 * H, commit_sha="ab" * 20)

    response = read_api.get("/api/v1/environments/live/")

    row = [c for c in response.json()["results"] if c["project"] is None]
    assert [(c["environment"], c["commit_sha"], c["release"], c["behind"], c["stale"]) for c in row] == [
        ("production", "ab" * 20, None, None, False)
    ]
    assert response.json()["count"] == 3


def test_it_pages_by_project(read_api, matrix):
    first = read_api.get("/api/v1/environments/live/?page_size=1")
    second = read_api.get(first.json()["next"])

    assert {c["project"] for c in first.json()["results"]} == {"api"}
    assert {c["project"] for c in second.json()["results"]} == {"web"}
    assert second.json()["next"] is None and second.json()["previous"] is not None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("environment=nowhere", "environment"),
        ("project=nothing", "project"),
        ("project=web-9.0-globexsecret", "project"),
        ("page=0", "page"),
        ("page=9", "page"),
        ("page_size=101", "page_size"),
        ("page_size=abc", "page_size"),
        ("environment=%00", "environment"),
        ("colour=blue", "colour"),
    ],
)
def test_it_refuses_a_bad_filter_naming_it(read_api, matrix, query, field):
    response = read_api.get(f"/api/v1/environments/live/?{query}")

    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_another_organizations_token_sees_only_its_own(other_api, matrix):
    assert cells(other_api.get("/api/v1/environments/live/")) == {
        ("web", "production"): ("web-9.0-globexsecret", 0, False),
        ("web", "dev"): ("web-9.0-globexsecret", 0, False),
        ("web", "staging"): ("web-9.0-globexsecret", 0, False),
    }


def test_an_empty_organization_answers_an_empty_matrix(read_api):
    body = read_api.get("/api/v1/environments/live/").json()

    assert body == {"count": 0, "next": None, "previous": None, "environments": [], "results": []}


def test_the_query_count_does_not_grow_with_the_matrix(org, read_api, matrix, django_assert_max_num_queries):
    read_api.get("/api/v1/environments/live/")  # the token's first use is recorded outside the count
    with django_assert_max_num_queries(8) as small:
        read_api.get("/api/v1/environments/live/")
    for n in range(6):
        release = make_release(org, f"extra-{n}", at=T0 + (30 + n) * H, projects=(f"p{n}",))
        for environment in ("production", "staging", "dev", f"e{n}"):
            deploy(org, release, environment, at=T0 + (31 + n) * H, project=f"p{n}")
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = read_api.get("/api/v1/environments/live/")
    assert len(response.json()["results"]) == 5 + 6 * 4


def _deployment_rows_read(plan: dict) -> int:
    """Rows every scan of the deployments table returned or filtered out, over all its loops."""
    total = 0
    if plan.get("Relation Name") == "deployments_deployment":
        total += (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * plan.get("Actual Loops", 1)
    return total + sum(_deployment_rows_read(child) for child in plan.get("Plans", []))


def test_finding_what_is_live_reads_a_row_per_cell_however_long_the_history(org, read_api):
    if connection.vendor != "postgresql":
        pytest.skip("the plans checked here are PostgreSQL's")
    busy = make_release(org, "busy-1", at=T0, projects=("busy",))
    quiet = make_release(org, "quiet-1", at=T0, projects=("quiet",))
    deploy(org, quiet, "production", at=T0, project="quiet")
    deploy(org, busy, "production", at=T0 + H, project="busy")
    production = Environment.objects.get(organization=org, name="production")
    busy_project = Project.objects.get(organization=org, name="busy")
    # Thousands of later deployments of another project, failures among them, to the same environment.
    Deployment.objects.bulk_create(
        Deployment(
            organization=org,
            environment=production,
            release=busy,
            project=busy_project,
            status="failure" if n % 3 else "success",
            occurred_at=T0 + (n + 2) * H,
        )
        for n in range(3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE deployments_deployment")
    read_api.get("/api/v1/environments/live/")  # the token's first use is recorded outside the capture

    with CaptureQueriesContext(connection) as queries:
        response = read_api.get("/api/v1/environments/live/?project=quiet")

    assert [c["release"] for c in response.json()["results"]] == ["quiet-1"]
    reads = [q["sql"] for q in queries.captured_queries if '"deployments_deployment"' in q["sql"]]
    assert reads
    for sql in reads:
        assert _deployment_rows_read(explain_analyze(sql, None)) <= 4, sql
