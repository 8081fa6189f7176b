"""Native API for deployments and environments: status codes, error shapes, history, filters."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deployments.models import Deployment, DeploymentStatusChange, Environment
from deployments.services import deployment_record
from releases.services import CommitInput, release_create

URL = "/api/v1/deployments/"
ENV_URL = "/api/v1/environments/"
SHA_A = "a" * 40
SHA_B = "b" * 40


def post(client, url, body, **headers):
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


def detail(deployment) -> str:
    return f"{URL}{deployment.public_id}/"


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]
    if field is not None:
        assert field in body["fields"], body
        assert body["error"].startswith(f"{field}: ") or f"; {field}: " in body["error"], body["error"]
    return body


@pytest.fixture
def release(org):
    release, _ = release_create(
        organization=org, version="1.4.0", projects=["api"], commits=[CommitInput(sha=SHA_A, repository="acme/api")]
    )
    return release


FULL = {
    "environment": "production",
    "release": "1.4.0",
    "commit_sha": SHA_A,
    "project": "api",
    "status": "success",
    "started_at": "2024-05-01T12:00:00Z",
    "finished_at": "2024-05-01T12:04:30Z",
    "title": "Deploy 1.4.0",
    "changelog": "- Fix login redirect",
    "url": "https://ci.example.com/runs/7",
    "branch": "main",
    "is_fix": True,
    "is_hotfix": False,
    "is_forced": True,
    "is_rollback": False,
    "tags": ["is_fix", "team-a"],
    "triggered_by": "ci",
    "external_id": "run-7",
    "member": "alice",
    "pull_request_number": 42,
    "repository_url": "https://github.com/acme/api",
    "commits_count": 3,
    "duration_seconds": 270,
}


# Create ------------------------------------------------------------------------------------


def test_it_records_a_deployment_with_every_documented_field(api, release):
    response = post(api, URL, FULL)

    assert response.status_code == 201, response.content
    deployment = Deployment.objects.get()
    assert response["Location"] == detail(deployment)
    body = response.json()
    expected = {k: v for k, v in FULL.items() if k not in ("started_at", "finished_at")}
    assert {k: body[k] for k in expected} == expected
    assert body["started_at"] == "2024-05-01T12:00:00Z"
    assert body["finished_at"] == body["occurred_at"] == "2024-05-01T12:04:30Z"
    # The JSON names the release by version and by id, the environment and project by name.
    assert body["release_id"] == str(release.public_id)
    assert body["is_production"] is True
    assert body["status_history"] == [{"status": "success", "at": "2024-05-01T12:04:30Z"}]
    assert body["source"] == "api"


def test_a_deployment_by_version_defaults_to_success_finished_now_and_its_releases_project(api, release):
    before = timezone.now()

    body = post(api, URL, {"environment": "staging", "release": "1.4.0"}).json()

    assert body["status"] == "success"
    assert body["project"] == "api"
    assert body["is_production"] is False
    assert before <= datetime.fromisoformat(body["finished_at"]) <= timezone.now()


def test_a_deployment_by_sha_attaches_to_the_one_release_containing_it(api, release):
    body = post(api, URL, {"environment": "production", "commit_sha": SHA_A.upper()}).json()

    assert (body["release"], body["release_id"]) == ("1.4.0", str(release.public_id))
    assert body["commit_sha"] == SHA_A


def test_a_deployment_of_an_unknown_sha_has_no_release(api, release):
    body = post(api, URL, {"environment": "production", "commit_sha": SHA_B}).json()

    assert (body["release"], body["release_id"], body["commit_sha"]) == (None, None, SHA_B)


def test_tags_may_be_a_comma_separated_string(api, release):
    body = post(api, URL, {"environment": "production", "release": "1.4.0", "tags": "is_hotfix, is_failure"}).json()

    assert body["tags"] == ["is_hotfix", "is_failure"]
    assert body["is_hotfix"] is True


def test_a_running_deployment_has_no_finish(api, release):
    body = post(api, URL, {"environment": "production", "release": "1.4.0", "status": "in_progress"}).json()

    assert body["finished_at"] is None
    assert body["started_at"] is not None
    assert [h["status"] for h in body["status_history"]] == ["in_progress"]


def test_the_same_external_id_in_the_same_environment_is_a_303_to_the_first(api, release):
    first = post(api, URL, {"environment": "production", "release": "1.4.0", "external_id": "run-9"})

    again = post(api, URL, {"environment": "production", "release": "1.4.0", "external_id": "run-9"})
    staging = post(api, URL, {"environment": "staging", "release": "1.4.0", "external_id": "run-9"})

    assert first.status_code == 201
    assert again.status_code == 303
    assert again["Location"] == first["Location"]
    assert again.json()["id"] == first.json()["id"]
    assert staging.status_code == 201
    assert Deployment.objects.count() == 2


def test_an_idempotency_key_replays_the_first_deployment_response(api, release):
    body = {"environment": "production", "release": "1.4.0"}
    first = post(api, URL, body, HTTP_IDEMPOTENCY_KEY="deploy-1")

    replay = post(api, URL, body, HTTP_IDEMPOTENCY_KEY="deploy-1")
    other = post(api, URL, body | {"status": "failure"}, HTTP_IDEMPOTENCY_KEY="deploy-1")

    assert replay.status_code == 201 and replay.json() == first.json()
    assert_error(other, 422, "idempotency_key_reused", field="Idempotency-Key")
    assert Deployment.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"release": "1.4.0"}, "environment"),
        ({"environment": "", "release": "1.4.0"}, "environment"),
        ({"environment": "production"}, "release"),
        ({"environment": "production", "release": "9.9.9"}, "release"),
        ({"environment": "production", "commit_sha": "main"}, "commit_sha"),
        ({"environment": "production", "release": "1.4.0", "status": "succes"}, "status"),
        ({"environment": "production", "release": "1.4.0", "started_at": "2024-05-01T12:00:00"}, "started_at"),
        ({"environment": "production", "release": "1.4.0", "finished_at": "soon"}, "finished_at"),
        (
            {
                "environment": "production",
                "release": "1.4.0",
                "started_at": "2024-05-01T12:00:00Z",
                "finished_at": "2024-05-01T11:00:00Z",
            },
            "finished_at",
        ),
        ({"environment": "production", "release": "1.4.0", "is_fix": "maybe"}, "is_fix"),
        ({"environment": "production", "release": "1.4.0", "tags": 5}, "tags"),
        ({"environment": "production", "release": "1.4.0", "tags": ["ok", 5]}, "tags"),
        ({"environment": "production", "release": "1.4.0", "duration_seconds": -1}, "duration_seconds"),
        ({"environment": "production", "release": "1.4.0", "pull_request_number": "x"}, "pull_request_number"),
        ({"environment": "production", "release": "1.4.0", "commits_count": -3}, "commits_count"),
        ({"environment": "production", "release": "1.4.0", "url": "nope"}, "url"),
        ({"environment": "production", "release": "1.4.0", "title": "a\u0000b"}, "title"),
        ({"environment": "production\u0000", "release": "1.4.0"}, "environment"),
        ({"environment": ["production"], "release": "1.4.0"}, "environment"),
        ({"environment": "production", "release": "1.4.0", "environmentName": "x"}, "environmentName"),
        ([], "body"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, release, body, field):
    assert_error(post(api, URL, body), 400, "validation_error", field=field)

    assert Deployment.objects.count() == 0
    assert not Environment.objects.exclude(name="production").exists()


def test_malformed_json_is_a_400(api):
    assert_error(api.post(URL, "{nope", content_type="application/json"), 400, "malformed_request")


def test_a_read_token_can_read_deployments_but_not_write(read_api, org, release):
    deployment, _ = deployment_record(organization=org, environment="production", release="1.4.0")

    assert read_api.get(URL).status_code == 200
    assert read_api.get(detail(deployment)).status_code == 200
    assert read_api.get(ENV_URL).status_code == 200
    assert_error(post(read_api, URL, {"environment": "production", "release": "1.4.0"}), 403, "permission_denied")
    assert_error(read_api.patch(detail(deployment), {"status": "failure"}, format="json"), 403, "permission_denied")
    assert_error(post(read_api, ENV_URL, {"name": "qa"}), 403, "permission_denied")
    env = Environment.objects.get()
    assert_error(
        read_api.patch(f"{ENV_URL}{env.public_id}/", {"is_production": False}, format="json"), 403, "permission_denied"
    )
    assert Deployment.objects.get().status == "success"
    assert Environment.objects.count() == 1 and Environment.objects.get().is_production is True


# PATCH -------------------------------------------------------------------------------------


def test_patching_the_status_records_history_and_sets_the_finish(api, release):
    created = post(api, URL, {"environment": "production", "release": "1.4.0", "status": "in_progress"}).json()
    url = f"{URL}{created['id']}/"

    at = (datetime.now(UTC) + timedelta(minutes=1)).replace(microsecond=0)
    paris = at.astimezone(timezone.get_fixed_timezone(120)).isoformat()

    failed = api.patch(url, {"status": "failure", "at": paris}, format="json")

    assert failed.status_code == 200, failed.content
    body = failed.json()
    utc = at.isoformat().replace("+00:00", "Z")
    assert body["status"] == "failure"
    assert body["finished_at"] == body["occurred_at"] == utc
    assert [h["status"] for h in body["status_history"]] == ["in_progress", "failure"]
    assert body["status_history"][-1]["at"] == utc


def test_a_final_status_before_the_start_is_refused_naming_at(api, release):
    created = post(api, URL, {"environment": "production", "release": "1.4.0", "status": "in_progress"}).json()

    response = api.patch(f"{URL}{created['id']}/", {"status": "failure", "at": "2024-05-01T12:10:00Z"}, format="json")

    assert_error(response, 400, "validation_error", field="at")
    assert Deployment.objects.get().status == "in_progress"


def test_patching_to_a_final_status_without_a_time_finishes_now(api, release):
    created = post(api, URL, {"environment": "production", "release": "1.4.0", "status": "queued"}).json()
    before = timezone.now()

    body = api.patch(f"{URL}{created['id']}/", {"status": "success"}, format="json").json()

    assert before <= datetime.fromisoformat(body["finished_at"]) <= timezone.now()
    assert [h["status"] for h in body["status_history"]] == ["queued", "success"]


def test_patching_the_same_status_again_adds_no_history(api, release):
    created = post(api, URL, {"environment": "production", "release": "1.4.0"}).json()

    body = api.patch(f"{URL}{created['id']}/", {"status": "success", "title": "Retitled"}, format="json").json()

    assert body["title"] == "Retitled"
    assert body["finished_at"] == created["finished_at"]
    assert len(body["status_history"]) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "done"}, "status"),
        ({"status": "success", "at": "2024-05-01T12:00:00"}, "at"),
        ({"environment": "staging"}, "environment"),
        ({"is_hotfix": True}, "is_hotfix"),
        ({"url": "not a url"}, "url"),
    ],
)
def test_a_bad_patch_is_a_400_and_changes_nothing(api, release, body, field):
    created = post(api, URL, {"environment": "production", "release": "1.4.0", "status": "in_progress"}).json()

    assert_error(api.patch(f"{URL}{created['id']}/", body, format="json"), 400, "validation_error", field=field)

    deployment = Deployment.objects.get()
    assert deployment.status == "in_progress" and deployment.environment.name == "production"
    assert DeploymentStatusChange.objects.count() == 1


def test_an_unknown_deployment_is_a_404(api):
    assert_error(api.get(f"{URL}00000000-0000-0000-0000-000000000000/"), 404, "not_found")
    assert_error(api.patch(f"{URL}nope/", {"status": "success"}, format="json"), 404, "not_found")


# List --------------------------------------------------------------------------------------


@pytest.fixture
def history(org, release):
    """Six deployments over six hours across two environments and two releases."""
    release_create(organization=org, version="1.5.0", projects=["web"])
    t0 = datetime.now(UTC) - timedelta(hours=6)
    specs = [
        ("staging", "1.4.0", "success", False),
        ("production", "1.4.0", "success", False),
        ("staging", "1.5.0", "success", False),
        ("production", "1.5.0", "failure", False),
        ("production", "1.4.0", "success", True),
        ("staging", "1.5.0", "in_progress", False),
    ]
    rows = []
    for hour, (env, version, status, hotfix) in enumerate(specs):
        when = t0 + timedelta(hours=hour)
        deployment, _ = deployment_record(
            organization=org,
            environment=env,
            release=version,
            status=status,
            started_at=when - timedelta(minutes=5),
            finished_at=when if status != "in_progress" else None,
            deployed_at=when,
            is_hotfix=hotfix,
            title=f"#{hour}",
        )
        rows.append(deployment)
    return t0


def titles(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [d["title"] for d in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["#5", "#4", "#3", "#2", "#1", "#0"]),
        ("environment=production", ["#4", "#3", "#1"]),
        ("environment=nowhere", []),
        ("project=web", ["#5", "#3", "#2"]),
        ("status=failure", ["#3"]),
        ("status=in_progress", ["#5"]),
        ("release=1.4.0", ["#4", "#1", "#0"]),
        ("release=9.9", []),
        ("is_hotfix=true", ["#4"]),
        ("is_hotfix=false", ["#5", "#3", "#2", "#1", "#0"]),
        ("environment=production&status=success", ["#4", "#1"]),
    ],
)
def test_the_list_filters_deployments_newest_first(api, history, query, expected):
    assert titles(api.get(f"{URL}?{query}")) == expected


def test_since_and_until_bound_the_deployment_time(api, history):
    since = (history + timedelta(hours=1)).isoformat()
    until = (history + timedelta(hours=4)).isoformat()

    assert titles(api.get(URL, {"since": since, "until": until})) == ["#3", "#2", "#1"]


@pytest.mark.parametrize(
    ("query", "field"),
    [("since=2024-05-01T00:00:00", "since"), ("status=succes", "status"), ("release=%00", "release")],
)
def test_a_bad_filter_is_a_400_naming_it(api, history, query, field):
    assert_error(api.get(f"{URL}?{query}"), 400, "validation_error", field=field)


def test_the_list_pages_with_a_cursor(api, history):
    first = api.get(URL, {"page_size": 4}).json()
    second = api.get(first["next"]).json()

    assert [d["title"] for d in first["results"]] == ["#5", "#4", "#3", "#2"]
    assert [d["title"] for d in second["results"]] == ["#1", "#0"]
    assert second["next"] is None


def test_the_deployment_list_takes_the_same_queries_for_2_or_30_deployments(
    api, org, release, django_assert_max_num_queries
):
    for env in ("staging", "production"):
        deployment_record(organization=org, environment=env, release="1.4.0", status="in_progress")
    with CaptureQueriesContext(connection) as ctx:
        assert len(api.get(URL).json()["results"]) == 2
    few = len(ctx.captured_queries)  # read now: every request clears the connection's query log
    for i in range(28):
        deployment, _ = deployment_record(
            organization=org, environment=f"env{i % 4}", release="1.4.0", status="in_progress", project=f"p{i % 5}"
        )
        api.patch(detail(deployment), {"status": "success"}, format="json")

    with django_assert_max_num_queries(few):
        response = api.get(URL)

    assert len(response.json()["results"]) == 30


# Environments ------------------------------------------------------------------------------


def test_environments_are_created_once_with_production_defaults(api, org):
    prod = post(api, ENV_URL, {"name": "production"})
    again = post(api, ENV_URL, {"name": "production"})
    qa = post(api, ENV_URL, {"name": "qa-eu", "is_production": True})
    staging = post(api, ENV_URL, {"name": "staging"})

    assert prod.status_code == 201 and prod.json()["is_production"] is True
    assert again.status_code == 303 and again["Location"] == prod["Location"]
    assert qa.status_code == 201 and qa.json()["is_production"] is True
    assert staging.json()["is_production"] is False
    listed = [(e["name"], e["is_production"]) for e in api.get(ENV_URL).json()["results"]]
    assert sorted(listed) == [("production", True), ("qa-eu", True), ("staging", False)]
    assert api.get(prod["Location"]).json()["name"] == "production"


def test_an_environment_can_be_renamed_and_its_production_flag_changed(api, org):
    env = post(api, ENV_URL, {"name": "prod"}).json()
    url = f"{ENV_URL}{env['id']}/"

    renamed = api.patch(url, {"name": "production-eu"}, format="json").json()
    flagged = api.patch(url, {"is_production": False}, format="json").json()

    assert renamed["name"] == "production-eu" and renamed["is_production"] is True
    assert flagged["name"] == "production-eu" and flagged["is_production"] is False


def test_renaming_an_environment_to_a_taken_name_is_a_409(api, org):
    post(api, ENV_URL, {"name": "staging"})
    qa = post(api, ENV_URL, {"name": "qa"}).json()

    assert_error(api.patch(f"{ENV_URL}{qa['id']}/", {"name": "staging"}, format="json"), 409, "conflict", field="name")
    assert sorted(Environment.objects.values_list("name", flat=True)) == ["qa", "staging"]


@pytest.mark.parametrize(
    ("method", "body", "field"),
    [
        ("post", {}, "name"),
        ("post", {"name": ""}, "name"),
        ("post", {"name": "x" * 101}, "name"),
        ("post", {"name": "qa", "is_production": "perhaps"}, "is_production"),
        ("patch", {"name": ""}, "name"),
        ("patch", {"is_production": "perhaps"}, "is_production"),
        ("patch", {"production": True}, "production"),
    ],
)
def test_bad_environment_input_is_a_400_naming_the_field(api, org, method, body, field):
    env = post(api, ENV_URL, {"name": "staging"}).json()
    url = ENV_URL if method == "post" else f"{ENV_URL}{env['id']}/"

    response = getattr(api, method)(url, json.dumps(body), content_type="application/json")

    assert_error(response, 400, "validation_error", field=field)
    assert list(Environment.objects.values_list("name", "is_production")) == [("staging", False)]
