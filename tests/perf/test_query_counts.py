"""What the tuning in bench/ relies on, asserted as behaviour and query counts (never as time)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import ReleaseFactory
from tests.pages.conftest import T0, deploy, make_release


def _release(version: str, commits: int, offset: int = 0) -> dict:
    return {
        "version": version,
        "projects": ["api"],
        "commits": [{"sha": f"{offset + i:040x}", "message": f"change {i}"} for i in range(commits)],
    }


@pytest.mark.django_db
def test_a_release_with_1000_commits_takes_as_many_queries_as_one_with_100(api):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's 999-parameter limit splits bulk inserts; the constant count holds on PostgreSQL")
    # Outside the counts: the token's first use is recorded, the project "api" is created.
    api.post("/api/v1/releases/", _release("v0", 1, offset=999_999), format="json")
    counts = {}
    for size in (100, 1000):
        with CaptureQueriesContext(connection) as queries:
            response = api.post("/api/v1/releases/", _release(f"v{size}", size, offset=size * 10_000), format="json")
        assert response.status_code == 201
        assert response.json()["commit_count"] == size
        counts[size] = len(queries.captured_queries)
    assert counts[1000] == counts[100]


@pytest.mark.django_db
def test_the_deployment_create_response_is_what_a_later_read_returns(api):
    api.post("/api/v1/releases/", _release("1.0.0", 2), format="json")
    created = api.post(
        "/api/v1/deployments/",
        {
            "environment": "production",
            "release": "1.0.0",
            "status": "success",
            "started_at": "2026-01-01T10:00:00+02:00",
            "tags": ["is_fix"],
            "pull_request_number": 7,
        },
        format="json",
    )
    assert created.status_code == 201

    read = api.get(created["Location"])

    assert read.status_code == 200
    assert created.json() == read.json()
    assert [change["status"] for change in created.json()["status_history"]] == ["success"]


@pytest.mark.django_db
def test_the_release_create_response_is_what_a_later_read_returns(api):
    # A commit already known (with a repository and a timestamp) and new ones, two projects,
    # two refs of which one names the same repository twice (the last one wins), a release date
    # with an offset: the answer is built from what was written, the read from the database.
    api.post(
        "/api/v1/releases/",
        {
            "version": "0.9.0",
            "commits": [{"sha": "a" * 40, "repository": "acme/api", "timestamp": "2026-01-01T09:00:00Z"}],
        },
        format="json",
    )
    body = {
        "version": "1.0.0",
        "projects": ["web", "api", "web"],
        "date_released": "2026-01-02T10:00:00.5+02:00",
        "commits": [
            {"sha": "b" * 40, "message": "second", "author_name": "Zoë", "pr_number": 3},
            "a" * 40,
            {"sha": "c" * 40, "repository": "acme/web", "message": "third"},
            "b" * 40,
        ],
        "refs": [
            {"repository": "acme/api", "commit": "a" * 40},
            {"repository": "acme/web", "commit": "c" * 40, "previous_commit": "b" * 40},
            {"repository": "acme/api", "commit": "b" * 40},
        ],
    }
    created = api.post("/api/v1/releases/", body, format="json")
    assert created.status_code == 201, created.json()

    read = api.get(created["Location"])

    assert read.status_code == 200
    assert created.json() == read.json()
    assert [c["sha"] for c in created.json()["commits"]] == ["b" * 40, "a" * 40, "c" * 40]
    assert created.json()["projects"] == ["api", "web"]
    assert created.json()["commit_count"] == 3
    # A repeat is read back whole, and answers the same release.
    again = api.post("/api/v1/releases/", body, format="json")
    assert again.status_code == 303
    assert again.json() == read.json()


@pytest.mark.django_db
def test_the_release_list_counts_each_release_s_commits_also_when_filtered(api, org):
    api.post("/api/v1/releases/", _release("2.0.0", 3), format="json")
    api.post("/api/v1/releases/", _release("2.1.0", 5, offset=100), format="json")
    ReleaseFactory(organization=org, version="2.2.0")

    listed = api.get("/api/v1/releases/").json()["results"]
    filtered = api.get("/api/v1/releases/", {"project": "api"}).json()["results"]

    assert {r["version"]: r["commit_count"] for r in listed} == {"2.0.0": 3, "2.1.0": 5, "2.2.0": 0}
    assert {r["version"]: r["commit_count"] for r in filtered} == {"2.0.0": 3, "2.1.0": 5}


@pytest.mark.django_db
def test_the_release_list_reads_the_same_number_of_queries_for_10_and_50_releases(api, org):
    def list_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api.get("/api/v1/releases/").status_code == 200
        return len(queries.captured_queries)

    api.get("/api/v1/organization/")
    for i in range(10):
        ReleaseFactory(organization=org, version=f"a{i}")
    ten = list_queries()
    for i in range(40):
        ReleaseFactory(organization=org, version=f"b{i}")
    assert list_queries() == ten


@pytest.mark.django_db
def test_the_environments_page_and_the_live_api_take_as_many_queries_for_12_projects_as_for_2(org, alice, read_api):
    client = Client()
    client.force_login(alice)
    read_api.get("/api/v1/environments/live/")  # the token's first use is recorded outside the counts
    counts = {}
    made = 0
    for projects in (2, 12):
        for n in range(made, projects):
            older = make_release(org, f"q{n}-1", at=T0, projects=(f"q{n}",))
            newer = make_release(org, f"q{n}-2", at=T0 + timedelta(hours=n + 1), projects=(f"q{n}",))
            deploy(org, older, "production", at=T0, project=f"q{n}")
            deploy(org, newer, "staging", at=T0, project=f"q{n}")
            deploy(org, None, f"env{n}", at=T0, commit_sha=f"{n:02x}" * 20)
        made = projects
        for path in ("/orgs/acme/environments/", "/api/v1/environments/live/"):
            caller = client if path.startswith("/orgs/") else read_api
            with CaptureQueriesContext(connection) as queries:
                assert caller.get(path).status_code == 200
            counts[path, projects] = len(queries.captured_queries)
    assert counts["/orgs/acme/environments/", 2] == counts["/orgs/acme/environments/", 12]
    assert counts["/api/v1/environments/live/", 2] == counts["/api/v1/environments/live/", 12]
