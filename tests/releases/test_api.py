"""Native API for releases, commits, projects and repositories: status codes, error shapes, filters."""

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from deployments.services import deployment_record
from releases.models import Commit, Project, Release, ReleaseCommit, Repository
from releases.services import CommitInput, release_create
from releasetracker.models import IdempotencyKey
from tests.factories import CommitFactory, DeploymentFactory, ReleaseCommitFactory, ReleaseFactory, issue_token

URL = "/api/v1/releases/"
SHA_A = "a" * 40
SHA_B = "b" * 40
SHA_C = "c" * 40


def sha(n: int) -> str:
    return f"{n:040x}"


def detail(release) -> str:
    return f"{URL}{release.public_id}/"


def post(client, url, body, **headers):
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    """Every 4xx is {"error", "code", "fields"}: the error names the field and the reason."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]
    if field is not None:
        assert field in body["fields"], body
        assert body["error"].startswith(f"{field}: ") or f"; {field}: " in body["error"], body["error"]
    return body


FULL_PAYLOAD = {
    "version": "1.4.0",
    "projects": ["api", "web"],
    "commits": [
        SHA_A,
        {
            "sha": SHA_B,
            "repository": "acme/api",
            "message": "Fix login redirect",
            "author_name": "Alice Martin",
            "author_email": "alice@example.com",
            "timestamp": "2024-05-01T10:00:00Z",
            "pr_number": 42,
        },
        {"id": SHA_C, "message": "Sentry calls the sha id"},
    ],
    "name": "Spring release",
    "ref": "v1.4.0",
    "url": "https://ci.example.com/runs/1",
    "date_released": "2024-05-01T12:00:00+02:00",
    "refs": [{"repository": "acme/api", "commit": SHA_B, "previous_commit": SHA_A}],
}


# Create ------------------------------------------------------------------------------------


def test_it_creates_a_release_with_every_documented_field(api, org):
    response = post(api, URL, FULL_PAYLOAD)

    assert response.status_code == 201, response.content
    release = Release.objects.get(organization=org, version="1.4.0")
    assert response["Location"] == detail(release)
    body = response.json()
    assert body["id"] == str(release.public_id)
    assert body["projects"] == ["api", "web"]
    assert body["commit_count"] == 3
    assert [c["sha"] for c in body["commits"]] == [SHA_A, SHA_B, SHA_C]
    assert body["commits"][1] | {"id": None, "created_at": None} == {
        "id": None,
        "sha": SHA_B,
        "repository": "acme/api",
        "message": "Fix login redirect",
        "author_name": "Alice Martin",
        "author_email": "alice@example.com",
        "timestamp": "2024-05-01T10:00:00Z",
        "pr_number": 42,
        "created_at": None,
    }
    assert body["commits"][2]["message"] == "Sentry calls the sha id"
    assert (body["name"], body["ref"], body["url"]) == ("Spring release", "v1.4.0", "https://ci.example.com/runs/1")
    assert body["date_released"] == "2024-05-01T10:00:00Z"
    assert body["refs"] == [{"repository": "acme/api", "commit": SHA_B, "previous_commit": SHA_A}]
    assert body["status"] == "pending"
    assert body["source"] == "api"
    assert body["deployments"] == [] and body["environments"] == []


def test_the_same_payload_again_is_a_303_to_the_existing_release_with_no_new_row(api):
    first = post(api, URL, FULL_PAYLOAD)

    again = post(api, URL, FULL_PAYLOAD)

    assert again.status_code == 303
    assert again["Location"] == first["Location"]
    assert again.json()["id"] == first.json()["id"]
    assert Release.objects.count() == 1
    assert ReleaseCommit.objects.count() == 3


def test_the_same_version_with_another_payload_is_a_409_naming_what_differs(api):
    post(api, URL, FULL_PAYLOAD)

    response = post(api, URL, FULL_PAYLOAD | {"name": "Other", "commits": [SHA_A]})

    body = assert_error(response, 409, "conflict")
    assert set(body["fields"]) == {"name", "commits"}
    assert "name" in body["error"] and "commits" in body["error"]
    assert Release.objects.get().name == "Spring release"


def test_an_idempotency_key_replays_the_first_response(api):
    first = post(api, URL, {"version": "2.0"}, HTTP_IDEMPOTENCY_KEY="ci-run-1")

    replay = post(api, URL, {"version": "2.0"}, HTTP_IDEMPOTENCY_KEY="ci-run-1")

    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay["Location"] == first["Location"]
    assert replay["Idempotent-Replayed"] == "true"
    assert Release.objects.count() == 1


def test_an_idempotency_key_reused_with_another_body_is_a_422(api):
    post(api, URL, {"version": "2.0"}, HTTP_IDEMPOTENCY_KEY="ci-run-1")

    response = post(api, URL, {"version": "2.1"}, HTTP_IDEMPOTENCY_KEY="ci-run-1")

    assert_error(response, 422, "idempotency_key_reused", field="Idempotency-Key")
    assert list(Release.objects.values_list("version", flat=True)) == ["2.0"]


@pytest.mark.parametrize("key", ["k" * 256, "tab\there"])
def test_a_malformed_idempotency_key_is_a_400(api, key):
    response = post(api, URL, {"version": "2.0"}, HTTP_IDEMPOTENCY_KEY=key)

    assert_error(response, 400, "validation_error", field="Idempotency-Key")
    assert Release.objects.count() == 0
    assert IdempotencyKey.objects.count() == 0


def test_a_release_with_one_invalid_commit_among_500_leaves_nothing_behind(api):
    commits = [{"sha": sha(i), "repository": "acme/api", "message": f"change {i}"} for i in range(499)]
    commits.append({"sha": "not-a-sha", "message": "broken"})

    response = post(api, URL, {"version": "3.0", "projects": ["api"], "commits": commits})

    body = assert_error(response, 400, "validation_error", field="commits.499.sha")
    assert "not-a-sha" in body["error"]
    assert Release.objects.count() == 0
    assert Commit.objects.count() == 0
    assert ReleaseCommit.objects.count() == 0
    assert Project.objects.count() == 0
    assert Repository.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "version"),
        ({"version": ""}, "version"),
        ({"version": None}, "version"),
        ({"version": "1\u0000"}, "version"),
        ({"version": {"a": 1}}, "version"),
        ({"version": "x" * 201}, "version"),
        ({"version": "1", "projects": "api"}, "projects"),
        ({"version": "1", "projects": [["api"]]}, "projects.0"),
        ({"version": "1", "commits": [5]}, "commits.0"),
        ({"version": "1", "commits": [{"message": "no sha"}]}, "commits.0.sha"),
        ({"version": "1", "commits": [{"sha": SHA_A, "timestamp": "yesterday"}]}, "commits.0.timestamp"),
        ({"version": "1", "commits": [{"sha": SHA_A, "pr_number": "forty"}]}, "commits.0.pr_number"),
        ({"version": "1", "commits": [{"sha": SHA_A, "message": "a\u0000b"}]}, "commits.0.message"),
        ({"version": "1", "date_released": "2024-05-01T12:00:00"}, "date_released"),
        ({"version": "1", "date_released": "2024-05-01"}, "date_released"),
        ({"version": "1", "url": "not a url"}, "url"),
        ({"version": "1", "refs": "acme/api"}, "refs"),
        ({"version": "1", "refs": [{"repository": "acme/api"}]}, "refs.0.commit"),
        ({"version": "1", "refs": [{"repository": "acme/api", "commit": "HEAD"}]}, "refs.0.commit"),
        ({"version": "1", "dateReleased": "2024-05-01T12:00:00Z"}, "dateReleased"),
        ([{"version": "1"}], "body"),
        ("1.0", "body"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, body, field):
    response = post(api, URL, body)

    assert_error(response, 400, "validation_error", field=field)
    assert Release.objects.count() == 0


def test_a_naive_date_is_refused_with_a_clear_error_rather_than_guessed(api):
    response = post(api, URL, {"version": "1", "date_released": "2024-05-01T12:00:00"})

    body = assert_error(response, 400, "validation_error", field="date_released")
    assert "timezone" in body["error"]


def test_malformed_json_is_a_400_not_a_500(api):
    response = api.post(URL, '{"version": "1",', content_type="application/json")

    body = assert_error(response, 400, "malformed_request")
    assert body["error"].startswith("body: ")


def test_a_form_encoded_body_is_a_415(api):
    response = api.post(URL, "version=1", content_type="application/x-www-form-urlencoded")

    assert_error(response, 415, "unsupported_media_type")


# Auth --------------------------------------------------------------------------------------


def test_without_a_token_it_is_a_401(db):
    response = APIClient().get(URL)

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_unknown_token_is_a_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer rt_not_a_real_token")

    assert_error(client.get(URL), 401, "not_authenticated")


def test_the_token_scheme_word_works_too(org, write_token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {write_token[1]}")

    assert client.get(URL).status_code == 200


def test_a_read_token_can_read_but_not_write(read_api, org):
    release, _ = release_create(organization=org, version="1.0")

    assert read_api.get(URL).status_code == 200
    assert read_api.get(detail(release)).status_code == 200
    assert_error(post(read_api, URL, {"version": "2.0"}), 403, "permission_denied")
    assert_error(read_api.patch(detail(release), {"status": "success"}, format="json"), 403, "permission_denied")
    assert_error(post(read_api, f"{detail(release)}commits/", {"commits": [SHA_A]}), 403, "permission_denied")
    release.refresh_from_db()
    assert release.status == "pending"
    assert list(Release.objects.values_list("version", flat=True)) == ["1.0"]


# Read --------------------------------------------------------------------------------------


def test_the_detail_shows_commits_and_the_latest_deployment_per_environment(api, org):
    post(api, URL, FULL_PAYLOAD)
    t0 = datetime.now(UTC) - timedelta(hours=2)
    deployment_record(organization=org, environment="staging", release="1.4.0", finished_at=t0)
    deployment_record(organization=org, environment="production", release="1.4.0", status="failure", finished_at=t0)
    latest, _ = deployment_record(
        organization=org, environment="production", release="1.4.0", finished_at=t0 + timedelta(hours=1)
    )

    body = api.get(detail(Release.objects.get())).json()

    assert len(body["commits"]) == 3
    envs = {e["environment"]: e for e in body["environments"]}
    assert envs["production"]["status"] == "success"
    assert envs["production"]["deployment_id"] == str(latest.public_id)
    assert envs["production"]["is_production"] is True
    assert envs["staging"]["status"] == "success" and envs["staging"]["is_production"] is False
    assert [d["status"] for d in body["deployments"]] == ["success", "failure", "success"]
    assert body["deployments"][0]["release"] == "1.4.0"


@pytest.mark.parametrize("bad", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "1.4.0"])
def test_an_unknown_or_malformed_id_is_a_404(api, bad):
    post(api, URL, FULL_PAYLOAD)

    assert_error(api.get(f"{URL}{bad}/"), 404, "not_found")
    assert_error(api.patch(f"{URL}{bad}/", {"status": "success"}, format="json"), 404, "not_found")
    assert_error(post(api, f"{URL}{bad}/commits/", {"commits": [SHA_A]}), 404, "not_found")


def test_put_and_delete_are_not_allowed(api, org):
    release, _ = release_create(organization=org, version="1.0")

    assert_error(api.put(detail(release), {"version": "1.0"}, format="json"), 405, "method_not_allowed")
    assert_error(api.delete(detail(release)), 405, "method_not_allowed")
    assert Release.objects.count() == 1


@pytest.fixture
def catalogue(org):
    """Four releases with known projects, statuses, creation times and deployments."""
    now = datetime.now(UTC)
    specs = [
        ("1.0.0", ["api"], "success", now - timedelta(days=10), "Initial"),
        ("1.1.0", ["api", "web"], "failure", now - timedelta(days=5), "Big web"),
        ("1.1.1", ["web"], "success", now - timedelta(days=2), "Hotfix"),
        ("2.0.0-rc1", ["worker"], "pending", now - timedelta(hours=1), "Next"),
    ]
    releases = {}
    for version, projects, status, created, name in specs:
        release, _ = release_create(organization=org, version=version, projects=projects, name=name, status=status)
        Release.objects.filter(pk=release.pk).update(created_at=created)
        releases[version] = release
    deployment_record(organization=org, environment="staging", release="1.1.0")
    deployment_record(organization=org, environment="production", release="1.1.1")
    deployment_record(organization=org, environment="staging", release="1.1.1")
    return releases


def versions(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [r["version"] for r in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["2.0.0-rc1", "1.1.1", "1.1.0", "1.0.0"]),
        ("project=web", ["1.1.1", "1.1.0"]),
        ("project=nope", []),
        ("environment=staging", ["1.1.1", "1.1.0"]),
        ("environment=production", ["1.1.1"]),
        ("status=success", ["1.1.1", "1.0.0"]),
        ("status=pending", ["2.0.0-rc1"]),
        ("version=1.1.0", ["1.1.0"]),
        ("q=rc", ["2.0.0-rc1"]),
        ("q=hotfix", ["1.1.1"]),
        ("project=api&status=failure", ["1.1.0"]),
    ],
)
def test_the_list_filters_releases(api, catalogue, query, expected):
    assert versions(api.get(f"{URL}?{query}")) == expected


def test_since_and_until_bound_the_creation_time(api, catalogue):
    since = (datetime.now(UTC) - timedelta(days=6)).isoformat()
    until = (datetime.now(UTC) - timedelta(days=1)).isoformat()

    response = api.get(URL, {"since": since, "until": until})

    assert versions(response) == ["1.1.1", "1.1.0"]


@pytest.mark.parametrize(
    ("query", "field"),
    [("since=2024-05-01", "since"), ("until=yesterday", "until"), ("status=shipped", "status"), ("q=%00", "q")],
)
def test_a_bad_filter_is_a_400_naming_it(api, catalogue, query, field):
    assert_error(api.get(f"{URL}?{query}"), 400, "validation_error", field=field)


def test_the_list_pages_with_a_cursor(api, catalogue):
    first = api.get(URL, {"page_size": 3}).json()
    second = api.get(first["next"]).json()

    assert [r["version"] for r in first["results"]] == ["2.0.0-rc1", "1.1.1", "1.1.0"]
    assert [r["version"] for r in second["results"]] == ["1.0.0"]
    assert second["next"] is None
    assert first["previous"] is None and second["previous"] is not None


def test_a_forged_cursor_is_a_400_naming_it_not_a_500(api, catalogue):
    assert_error(api.get(URL, {"cursor": "garbage"}), 400, "validation_error", field="cursor")


def test_list_entries_carry_projects_and_commit_counts(api, org):
    release_create(organization=org, version="1", projects=["web", "api"], commits=[CommitInput(sha=SHA_A)])

    (entry,) = api.get(URL).json()["results"]

    assert entry["projects"] == ["api", "web"]
    assert entry["commit_count"] == 1
    assert "commits" not in entry


# PATCH -------------------------------------------------------------------------------------


def test_patch_sets_the_status_and_changes_only_the_fields_sent(api, org):
    post(api, URL, FULL_PAYLOAD)
    release = Release.objects.get()

    response = api.patch(detail(release), {"status": "success"}, format="json")
    renamed = api.patch(
        detail(release),
        {"name": "Renamed", "url": "https://ci.example.com/runs/2", "date_released": "2024-05-02T00:00:00Z"},
        format="json",
    )

    assert response.status_code == 200 and response.json()["status"] == "success"
    body = renamed.json()
    assert (body["status"], body["name"], body["ref"]) == ("success", "Renamed", "v1.4.0")
    assert body["url"] == "https://ci.example.com/runs/2"
    assert body["date_released"] == "2024-05-02T00:00:00Z"
    assert body["commit_count"] == 3


def test_patch_failure_is_kept(api, org):
    release, _ = release_create(organization=org, version="1.0")

    assert api.patch(detail(release), {"status": "failure"}, format="json").json()["status"] == "failure"
    assert Release.objects.get().status == "failure"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "shipped"}, "status"),
        ({"status": None}, "status"),
        ({"date_released": "2024-05-01T12:00:00"}, "date_released"),
        ({"url": "nope"}, "url"),
        ({"version": "2.0"}, "version"),
        ({"stauts": "success"}, "stauts"),
    ],
)
def test_a_bad_patch_is_a_400_naming_the_field_and_changes_nothing(api, org, body, field):
    release, _ = release_create(organization=org, version="1.0", name="kept")

    assert_error(api.patch(detail(release), body, format="json"), 400, "validation_error", field=field)

    release.refresh_from_db()
    assert (release.version, release.status, release.name) == ("1.0", "pending", "kept")


# POST .../commits/ -------------------------------------------------------------------------


def test_posting_commits_appends_them(api, org):
    release, _ = release_create(organization=org, version="1.0", commits=[CommitInput(sha=SHA_A)])

    response = post(
        api,
        f"{detail(release)}commits/",
        {"commits": [SHA_A, {"sha": SHA_B, "message": "More"}], "refs": [{"repository": "acme/api", "commit": SHA_B}]},
    )

    assert response.status_code == 201
    assert response.json() == {"release": str(release.public_id), "added": 2, "commit_count": 2}
    body = api.get(detail(release)).json()
    assert [c["sha"] for c in body["commits"]] == [SHA_A, SHA_B]
    assert body["refs"] == [{"repository": "acme/api", "commit": SHA_B, "previous_commit": ""}]


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "commits"), ({"commits": []}, "commits"), ({"commits": [SHA_B, "xyz"]}, "commits.1.sha")],
)
def test_posting_bad_commits_is_a_400_and_appends_nothing(api, org, body, field):
    release, _ = release_create(organization=org, version="1.0", commits=[CommitInput(sha=SHA_A)])

    assert_error(post(api, f"{detail(release)}commits/", body), 400, "validation_error", field=field)

    assert release.release_commits.count() == 1
    assert Commit.objects.count() == 1


# Projects, repositories, commits -------------------------------------------------------------


def test_projects_are_listed_and_created_once(api, org):
    created = post(api, "/api/v1/projects/", {"name": "api"})
    again = post(api, "/api/v1/projects/", {"name": "api"})

    assert created.status_code == 201 and again.status_code == 303
    assert created["Location"] == again["Location"] == f"/api/v1/projects/{created.json()['id']}/"
    assert [p["name"] for p in api.get("/api/v1/projects/").json()["results"]] == ["api"]
    assert api.get(created["Location"]).json()["name"] == "api"
    assert_error(post(api, "/api/v1/projects/", {"name": ""}), 400, "validation_error", field="name")


def test_repositories_are_owner_slash_repo_with_a_url_and_provider(api, org):
    body = {"name": "acme/api", "url": "https://github.com/acme/api", "provider": "github"}
    created = post(api, "/api/v1/repositories/", body)
    again = post(api, "/api/v1/repositories/", body)

    assert created.status_code == 201 and again.status_code == 303
    assert created.json() | {"id": None, "created_at": None} == {
        "id": None,
        "name": "acme/api",
        "url": "https://github.com/acme/api",
        "provider": "github",
        "created_at": None,
    }
    assert [r["name"] for r in api.get("/api/v1/repositories/").json()["results"]] == ["acme/api"]
    assert_error(post(api, "/api/v1/repositories/", {"name": "just-a-name"}), 400, "validation_error", field="name")
    assert_error(post(api, "/api/v1/repositories/", {"name": "a/b", "url": "x"}), 400, "validation_error", field="url")


def test_commits_are_found_by_full_sha_or_prefix(api, org):
    release_create(organization=org, version="1", commits=[CommitInput(sha=SHA_A, repository="acme/api")])
    release_create(organization=org, version="2", commits=[CommitInput(sha=SHA_B)])

    by_prefix = api.get("/api/v1/commits/", {"sha": SHA_A[:7].upper()}).json()["results"]
    by_full = api.get("/api/v1/commits/", {"sha": SHA_B}).json()["results"]

    assert [(c["sha"], c["repository"]) for c in by_prefix] == [(SHA_A, "acme/api")]
    assert [c["sha"] for c in by_full] == [SHA_B]
    assert api.get("/api/v1/commits/", {"sha": "f" * 40}).json()["results"] == []
    assert api.get(f"/api/v1/commits/{by_full[0]['id']}/").json()["sha"] == SHA_B


# Query counts ------------------------------------------------------------------------------


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _release_with_history(org, n_commits: int, n_deployments: int):
    release = ReleaseFactory(organization=org)
    for _ in range(n_commits):
        ReleaseCommitFactory(release=release)
    for i in range(n_deployments):
        env = "production" if i % 2 else "staging"
        deployment_record(organization=org, environment=env, release=release.version, project=f"p{i % 3}")
    return release


def test_the_release_list_takes_the_same_queries_for_3_or_30_releases(api, org, django_assert_max_num_queries):
    for _ in range(3):
        _release_with_history(org, 2, 1)
    few = _count(api, URL)
    for _ in range(27):
        _release_with_history(org, 2, 1)

    with django_assert_max_num_queries(few):
        response = api.get(URL)

    assert len(response.json()["results"]) == 30


def test_the_release_detail_takes_the_same_queries_for_2_or_40_commits_and_deployments(
    api, org, django_assert_max_num_queries
):
    small = _release_with_history(org, 2, 2)
    large = _release_with_history(org, 40, 40)
    baseline = _count(api, detail(small))

    with django_assert_max_num_queries(baseline):
        response = api.get(detail(large))

    assert len(response.json()["commits"]) == 40
    assert len(response.json()["deployments"]) == 40


def _batches(model, count: int) -> int:
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    return math.ceil(count / min(500, connection.ops.bulk_batch_size(fields, [None] * count)))


def test_creating_a_release_with_200_commits_takes_as_many_queries_as_with_20(api, org):
    def create(version: str, count: int, offset: int) -> int:
        commits = [{"sha": sha(offset + i), "repository": "acme/api", "message": f"m{i}"} for i in range(count)]
        with CaptureQueriesContext(connection) as ctx:
            response = post(api, URL, {"version": version, "projects": ["api"], "commits": commits})
        assert response.status_code == 201
        return len(ctx.captured_queries)

    create("warm-up", 1, 50_000)  # the project, repository and token's last-use time now exist
    small = create("small", 20, 0)
    large = create("large", 200, 1_000)

    # SQLite caps bound parameters per INSERT (999), so its bulk inserts come in batches;
    # nothing else may grow. On PostgreSQL the counts are equal.
    extra = _batches(Commit, 200) - _batches(Commit, 20) + _batches(ReleaseCommit, 200) - _batches(ReleaseCommit, 20)
    assert large == small + extra
    if connection.vendor == "postgresql":
        assert large == small


def test_another_token_of_the_same_organization_sees_the_same_releases(org, api):
    post(api, URL, {"version": "1.0"})
    _, clear = issue_token(org, scopes=["read"], name="dashboard")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")

    assert versions(client.get(URL)) == ["1.0"]


def test_deployments_factories_render_in_the_release_detail(api, org):
    release = ReleaseFactory(organization=org)
    CommitFactory(organization=org)
    DeploymentFactory(organization=org, release=release)

    body = api.get(detail(release)).json()

    assert body["environments"][0]["environment"] == "production"
