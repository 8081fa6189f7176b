"""The native API's plumbing as a client sees it.

The exact JSON of deployment, release and commit answers; validation errors that name the field;
201 or 303 with a Location; content negotiation; the JSON parser; the sliding-window throttle.
"""

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from io import BytesIO
from types import SimpleNamespace

import pytest
from django.core.cache import caches
from django.urls import set_script_prefix

from deployments.models import Deployment, Environment
from deployments.serializers import DeploymentCreateSerializer
from deployments.services import deployment_record
from releases.models import Commit, Project, Release
from releases.services import CommitInput, release_create
from releasetracker.api import throttling
from releasetracker.api.parsers import JSONParser
from releasetracker.api.throttling import TokenRateThrottle
from tests.factories import ReleaseFactory, issue_token

SHA = "abc1234def5678abc1234def5678abc1234def56"


def post(client, url: str, body, **headers):
    return client.generic("POST", url, json.dumps(body), content_type="application/json", **headers)


def drf_time(value: datetime | None) -> str | None:
    """A stored time as the API writes it: ISO 8601 in UTC, "Z" for the offset."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def assert_exact_json(response, expected: dict) -> None:
    """The body is ``expected``, key for key in this order, in DRF's compact UTF-8 JSON."""
    assert response["Content-Type"] == "application/json"
    assert list(response.json()) == list(expected)
    assert response.json() == expected
    assert response.content == json.dumps(expected, ensure_ascii=False, separators=(",", ":")).encode()


# Deployment answers ------------------------------------------------------------------------

FULL = {
    "environment": "production",
    "trigger_workflow": True,
    "release": "1.4.0",
    "commit_sha": SHA,
    "project": "api",
    "status": "in_progress",
    "started_at": "2024-05-01T12:00:00.123456+02:00",
    "finished_at": "2024-05-01T10:04:30.5Z",
    "deployed_at": "2024-05-01T06:34:30-03:30",
    "duration_seconds": 270.5,
    "title": "  Deploy 1.4.0  ",
    "changelog": "- Fix login redirect\n- Déploiement plus rapide 🚀",
    "url": "https://ci.example.com/runs/7",
    "branch": "main",
    "is_fix": True,
    "is_hotfix": True,
    "is_forced": True,
    "is_rollback": False,
    "tags": ["is_fix", " team-a ", ""],
    "triggered_by": "ci",
    "external_id": "run-7",
    "member": "alice",
    "pull_request_number": 7,
    "repository_url": "https://github.com/acme/api",
    "commits_count": 3,
}
MINIMAL = {"environment": "production", "commit_sha": SHA}


def expected_deployment(deployment: Deployment) -> dict:
    """What the API answers for ``deployment``, from the stored row."""
    deployment = Deployment.objects.select_related("environment", "release", "project").get(pk=deployment.pk)
    release = deployment.release
    return {
        "id": str(deployment.public_id),
        "environment": deployment.environment.name,
        "is_production": deployment.environment.is_production,
        "release": release.version if release else None,
        "release_id": str(release.public_id) if release else None,
        "project": deployment.project.name if deployment.project else None,
        "commit_sha": deployment.commit_sha,
        "status": deployment.status,
        "started_at": drf_time(deployment.started_at),
        "finished_at": drf_time(deployment.finished_at),
        "deployed_at": drf_time(deployment.deployed_at),
        "occurred_at": drf_time(deployment.occurred_at),
        "duration_seconds": deployment.duration_seconds,
        "title": deployment.title,
        "changelog": deployment.changelog,
        "url": deployment.url,
        "branch": deployment.branch,
        "is_fix": deployment.is_fix,
        "is_hotfix": deployment.is_hotfix,
        "is_forced": deployment.is_forced,
        "is_rollback": deployment.is_rollback,
        "rollback_detected": deployment.rollback_detected,
        "tags": deployment.tags,
        "triggered_by": deployment.triggered_by,
        "external_id": deployment.external_id,
        "member": deployment.member,
        "pull_request_number": deployment.pull_request_number,
        "repository_url": deployment.repository_url,
        "commits_count": deployment.commits_count,
        "source": deployment.source,
        "created_by": deployment.created_by,
        "created_at": drf_time(deployment.created_at),
        "updated_at": drf_time(deployment.updated_at),
        "status_history": [
            {"status": change.status, "at": drf_time(change.at)} for change in deployment.status_changes.all()
        ],
    }


@pytest.fixture
def release_140(org):
    return ReleaseFactory(organization=org, version="1.4.0")


def test_a_new_deployment_answers_every_field_in_order(api, org, release_140):
    response = post(api, "/api/v1/deployments/", FULL)

    assert response.status_code == 201, response.content
    deployment = Deployment.objects.get(organization=org)
    expected = expected_deployment(deployment)
    assert_exact_json(response, expected)
    # The values as the client sent them, normalized.
    assert {key: expected[key] for key in ("release", "project", "status", "title", "tags")} == {
        "release": "1.4.0",
        "project": "api",
        "status": "in_progress",
        "title": "Deploy 1.4.0",
        "tags": ["is_fix", "team-a"],
    }
    assert expected["started_at"] == "2024-05-01T10:00:00.123456Z"
    assert expected["finished_at"] == "2024-05-01T10:04:30.500000Z"
    assert expected["deployed_at"] == "2024-05-01T10:04:30Z"
    assert (expected["duration_seconds"], expected["pull_request_number"], expected["commits_count"]) == (270.5, 7, 3)
    assert [expected[name] for name in ("is_fix", "is_hotfix", "is_forced", "is_rollback")] == [True, True, True, False]
    assert expected["status_history"] == [{"status": "in_progress", "at": "2024-05-01T10:00:00.123456Z"}]
    assert expected["created_by"] == f"token ci-write ({api.token.prefix})"


def test_a_deployment_reads_back_as_it_was_answered(api, org, release_140):
    created = post(api, "/api/v1/deployments/", FULL)
    deployment = Deployment.objects.get(organization=org)

    detail = api.get(f"/api/v1/deployments/{deployment.public_id}/")
    [listed] = api.get("/api/v1/deployments/").json()["results"]

    assert detail.status_code == 200
    assert detail.content == created.content
    assert listed == created.json()


def test_a_minimal_deployment_answers_nulls_and_empty_strings(api, org):
    response = post(api, "/api/v1/deployments/", {"environment": "staging", "commit_sha": SHA[:12]})

    assert response.status_code == 201, response.content
    body = response.json()
    assert_exact_json(response, expected_deployment(Deployment.objects.get(organization=org)))
    assert (body["release"], body["release_id"], body["project"]) == (None, None, None)
    assert (body["started_at"], body["duration_seconds"], body["pull_request_number"]) == (None, None, None)
    assert (body["title"], body["tags"], body["is_production"], body["status"]) == ("", [], False, "success")
    assert body["finished_at"] is not None and body["finished_at"].endswith("Z")


def test_a_whole_number_duration_is_answered_as_a_float(api, org):
    response = post(api, "/api/v1/deployments/", {**MINIMAL, "duration_seconds": 90})

    assert response.status_code == 201
    assert b'"duration_seconds":90.0,' in response.content


def test_a_patched_deployment_answers_its_whole_history(api, org, release_140):
    post(api, "/api/v1/deployments/", FULL)
    deployment = Deployment.objects.get(organization=org)

    response = api.generic(
        "PATCH",
        f"/api/v1/deployments/{deployment.public_id}/",
        json.dumps({"status": "success", "at": "2024-05-01T10:30:00.999999Z"}),
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    assert_exact_json(response, expected_deployment(deployment))
    assert [change["status"] for change in response.json()["status_history"]] == ["in_progress", "success"]
    assert response.json()["status_history"][1]["at"] == "2024-05-01T10:30:00.999999Z"


# Deployment input --------------------------------------------------------------------------

VALID_PAYLOADS = {
    "minimal": MINIMAL,
    "every field": FULL,
    "tags as a comma-separated string": {**MINIMAL, "tags": " canary, is_hotfix ,,team-a"},
    "integers and floats as numbers": {
        **MINIMAL,
        "pull_request_number": 7,
        "commits_count": 0,
        "duration_seconds": 1.5,
    },
    "null for every nullable field": {
        **MINIMAL,
        "started_at": None,
        "finished_at": None,
        "deployed_at": None,
        "duration_seconds": None,
        "pull_request_number": None,
        "commits_count": None,
    },
    "blank strings where blank is allowed": {**MINIMAL, "release": "", "title": "", "url": "", "project": ""},
    "astral characters": {**MINIMAL, "title": "🚀 ship it", "member": "𝒶𝓁𝒾𝒸ℯ"},
    "a release and no commit": {"environment": "staging", "release": "2.0.0", "status": "failure"},
}


@pytest.mark.parametrize("payload", VALID_PAYLOADS.values(), ids=VALID_PAYLOADS.keys())
def test_a_valid_deployment_payload_is_accepted(payload):
    serializer = DeploymentCreateSerializer(data=payload)
    assert serializer.is_valid(), serializer.errors


def test_the_full_payload_is_validated_into_the_service_arguments():
    serializer = DeploymentCreateSerializer(data=FULL)
    assert serializer.is_valid(), serializer.errors
    data = serializer.validated_data
    assert data["request_workflow"] is True and "trigger_workflow" not in data
    assert data["started_at"] == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert data["deployed_at"] == datetime(2024, 5, 1, 10, 4, 30, tzinfo=UTC)
    assert (data["is_fix"], data["is_hotfix"], data["is_forced"], data["is_rollback"]) == (True, True, True, False)
    assert data["tags"] == ["is_fix", "team-a"]
    assert data["pull_request_number"] == 7 and type(data["pull_request_number"]) is int
    assert data["title"] == "Deploy 1.4.0"


def test_absent_fields_get_their_defaults_and_nothing_else():
    serializer = DeploymentCreateSerializer(data=MINIMAL)
    assert serializer.is_valid(), serializer.errors
    assert dict(serializer.validated_data) == {
        "environment": "production",
        "request_workflow": False,
        "commit_sha": SHA,
        "status": "success",
        "is_fix": False,
        "is_hotfix": False,
        "is_forced": False,
        "is_rollback": False,
    }


ACCEPTED = (
    "unknown field (accepted: branch, changelog, commit_sha, commits_count, deployed_at, duration_seconds, "
    "environment, external_id, finished_at, is_fix, is_forced, is_hotfix, is_rollback, member, project, "
    "pull_request_number, release, repository_url, started_at, status, tags, title, trigger_workflow, "
    "triggered_by, url)"
)
INVALID_PAYLOADS = {
    "an unknown key": ({**MINIMAL, "stauts": "failure"}, {"stauts": [ACCEPTED]}),
    "two unknown keys next to an invalid value": (
        {**MINIMAL, "zeta": 1, "alpha": 2, "environment": ""},
        {"alpha": [ACCEPTED], "zeta": [ACCEPTED]},
    ),
    "environment missing": ({"commit_sha": SHA}, {"environment": ["This field is required."]}),
    "an empty object": ({}, {"environment": ["This field is required."]}),
    "neither release nor commit_sha": (
        {"environment": "production"},
        {"release": ["send a release version or a commit_sha"]},
    ),
    "environment as a list": ({**MINIMAL, "environment": ["production"]}, {"environment": ["must be a string"]}),
    # DRF would coerce these for an HTML form; from JSON they are refused, never guessed.
    "booleans as strings and numbers": (
        {**MINIMAL, "is_fix": "True", "is_hotfix": 0, "is_forced": "1", "is_rollback": "false"},
        {
            "is_fix": ["must be true or false (a JSON boolean)"],
            "is_hotfix": ["must be true or false (a JSON boolean)"],
            "is_forced": ["must be true or false (a JSON boolean)"],
            "is_rollback": ["must be true or false (a JSON boolean)"],
        },
    ),
    "numbers as strings": (
        {**MINIMAL, "pull_request_number": "7", "duration_seconds": "1.5"},
        {"duration_seconds": ["must be a number"], "pull_request_number": ["must be a number"]},
    ),
    "a name as a number": ({**MINIMAL, "title": 0}, {"title": ["must be a string"]}),
    "tags as an object": (
        {**MINIMAL, "tags": {"a": "b"}},
        {"tags": ["must be a list of strings or a comma-separated string"]},
    ),
    "tags as a list of numbers": (
        {**MINIMAL, "tags": [1, 2]},
        {"tags": ["must be a list of strings or a comma-separated string"]},
    ),
    "over-long strings": (
        {**MINIMAL, "environment": "e" * 101, "title": "t" * 501, "url": "https://x.example/" + "a" * 500},
        {
            "environment": ["Ensure this field has no more than 100 characters."],
            "title": ["Ensure this field has no more than 500 characters."],
            "url": ["Ensure this field has no more than 500 characters."],
        },
    ),
    "a NUL byte": ({**MINIMAL, "title": "a\x00b"}, {"title": ["Null characters are not allowed."]}),
    "a lone surrogate": (
        {**MINIMAL, "title": "bad \ud800 title"},
        {"title": ["Surrogate characters are not allowed: U+D800."]},
    ),
    "a NUL byte and a surrogate in one string": (
        {**MINIMAL, "branch": "\x00\udfff"},
        {"branch": ["Null characters are not allowed.", "Surrogate characters are not allowed: U+DFFF."]},
    ),
    "null for non-nullable fields": (
        {**MINIMAL, "environment": None, "tags": None, "is_fix": None, "status": None},
        {
            "environment": ["This field may not be null."],
            "status": ["This field may not be null."],
            "is_fix": ["This field may not be null."],
            "tags": ["This field may not be null."],
        },
    ),
    "an unknown status": ({**MINIMAL, "status": "bogus"}, {"status": ['"bogus" is not a valid choice.']}),
    "a naive and a malformed time": (
        {**MINIMAL, "started_at": "2024-05-01T12:00:00", "finished_at": "yesterday"},
        {
            "started_at": ["must carry a timezone, for example 2024-05-01T12:00:00Z (a naive time is not guessed)"],
            "finished_at": ["must be an ISO 8601 date-time, for example 2024-05-01T12:00:00Z"],
        },
    ),
    "numbers out of range": (
        {**MINIMAL, "pull_request_number": -1, "commits_count": 2**31, "duration_seconds": -0.5},
        {
            "duration_seconds": ["Ensure this value is greater than or equal to 0."],
            "pull_request_number": ["Ensure this value is greater than or equal to 0."],
            "commits_count": ["Ensure this value is less than or equal to 2147483647."],
        },
    ),
    "not a number": (
        {**MINIMAL, "pull_request_number": 7.5, "commits_count": True, "duration_seconds": "fast"},
        {
            "duration_seconds": ["must be a number"],
            "commits_count": ["must be a number"],
        },
    ),
    "a boolean that is not one": (
        {**MINIMAL, "is_fix": "maybe", "trigger_workflow": [True]},
        {
            "trigger_workflow": ["must be true or false (a JSON boolean)"],
            "is_fix": ["must be true or false (a JSON boolean)"],
        },
    ),
    "a url that is not one": (
        {**MINIMAL, "url": "not a url", "repository_url": "ftp//x"},
        {"url": ["Enter a valid URL."], "repository_url": ["Enter a valid URL."]},
    ),
    "one bad field among many good ones": (
        {**FULL, "commits_count": "many"},
        {"commits_count": ["must be a number"]},
    ),
    "a list": ([MINIMAL], {"body": ["Invalid data. Expected a dictionary, but got list."]}),
    "a string": ("environment=production", {"body": ["Invalid data. Expected a dictionary, but got str."]}),
    "a number": (7, {"body": ["Invalid data. Expected a dictionary, but got int."]}),
    "null": (None, {"body": ["No data provided"]}),
}


@pytest.mark.parametrize("payload, fields", INVALID_PAYLOADS.values(), ids=INVALID_PAYLOADS.keys())
def test_invalid_deployment_input_is_a_400_naming_each_field_and_its_reason(api, payload, fields):
    response = post(api, "/api/v1/deployments/", payload)

    assert response.status_code == 400, response.content
    assert response.json() == {
        "error": "; ".join(f"{name}: {messages[0]}" for name, messages in fields.items()),
        "code": "validation_error",
        "fields": fields,
    }
    assert not Deployment.objects.exists()


# Field limits: the model's, in the API ------------------------------------------------------

LIMITS = [
    ("/api/v1/deployments/", MINIMAL, "title", Deployment, "title"),
    ("/api/v1/deployments/", MINIMAL, "branch", Deployment, "branch"),
    ("/api/v1/deployments/", MINIMAL, "external_id", Deployment, "external_id"),
    ("/api/v1/deployments/", {"commit_sha": SHA}, "environment", Environment, "name"),
    ("/api/v1/deployments/", MINIMAL, "project", Project, "name"),
    ("/api/v1/releases/", {}, "version", Release, "version"),
    ("/api/v1/releases/", {"version": "1.0"}, "name", Release, "name"),
    ("/api/v1/projects/", {}, "name", Project, "name"),
    ("/api/v1/environments/", {}, "name", Environment, "name"),
]


@pytest.mark.parametrize(
    "url, base, field, model, model_field", LIMITS, ids=[f"{url.split('/')[3]}.{field}" for url, _, field, *_ in LIMITS]
)
def test_the_longest_value_a_column_holds_is_accepted_and_one_more_character_is_a_400(
    api, url, base, field, model, model_field
):
    limit = model._meta.get_field(model_field).max_length

    too_long = post(api, url, {**base, field: "x" * (limit + 1)})
    longest = post(api, url, {**base, field: "x" * limit})

    assert too_long.status_code == 400
    assert too_long.json()["fields"] == {field: [f"Ensure this field has no more than {limit} characters."]}
    assert longest.status_code == 201, longest.content


def test_a_surrogate_in_a_request_body_is_a_400_naming_the_field(api):
    body = json.dumps({**MINIMAL, "title": "x\ud800"})
    assert body.endswith('"x\\ud800"}')  # the JSON escape: valid UTF-8, a lone surrogate once parsed
    response = api.generic("POST", "/api/v1/deployments/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["fields"] == {"title": ["Surrogate characters are not allowed: U+D800."]}


def test_astral_characters_are_stored_and_answered_as_sent(api):
    response = post(api, "/api/v1/deployments/", {**MINIMAL, "title": "🚀 launch", "branch": "feat/😀", "member": "𝒶"})
    assert response.status_code == 201, response.content
    assert (response.json()["title"], response.json()["branch"], response.json()["member"]) == (
        "🚀 launch",
        "feat/😀",
        "𝒶",
    )
    assert "🚀 launch".encode() in response.content


# Release and commit answers ----------------------------------------------------------------

RELEASE = {
    "version": " 3.0.0 ",
    "projects": ["web", "api", "Zeta"],
    "commits": [
        {
            "sha": SHA,
            "repository": "acme/web",
            "message": "Faster\n\nBody",
            "author_name": "Zoë",
            "author_email": "zoe@example.com",
            "timestamp": "2024-06-01T08:00:00.000005+05:30",
            "pr_number": 7,
        },
        "f" * 40,
    ],
    "name": "Three",
    "ref": "v3.0.0",
    "url": "https://ci.example.com/releases/3",
    "date_released": "2024-06-01T09:30:00.25-04:00",
    "refs": [{"repository": "acme/web", "commit": SHA, "previous_commit": None}],
}


def expected_commit(commit: Commit) -> dict:
    return {
        "id": str(commit.public_id),
        "sha": commit.sha,
        "repository": commit.repository.name if commit.repository else None,
        "message": commit.message,
        "author_name": commit.author_name,
        "author_email": commit.author_email,
        "timestamp": drf_time(commit.timestamp),
        "pr_number": commit.pr_number,
        "created_at": drf_time(commit.created_at),
    }


def expected_release(release: Release, commit_count: int) -> dict:
    return {
        "id": str(release.public_id),
        "version": release.version,
        "name": release.name,
        "ref": release.ref,
        "url": release.url,
        "date_released": drf_time(release.date_released),
        "status": release.status,
        "archived_at": drf_time(release.archived_at),
        "source": release.source,
        "created_by": release.created_by,
        "projects": sorted(project.name for project in release.projects.all()),
        "commit_count": commit_count,
        "created_at": drf_time(release.created_at),
        "updated_at": drf_time(release.updated_at),
    }


def test_a_new_release_answers_its_fields_commits_refs_and_deployments_in_order(api, org):
    response = post(api, "/api/v1/releases/", RELEASE)

    assert response.status_code == 201, response.content
    release = Release.objects.get(organization=org)
    commits = [link.commit for link in release.release_commits.order_by("position")]
    expected = {
        **expected_release(release, commit_count=2),
        "commits": [expected_commit(commit) for commit in commits],
        "refs": [{"repository": "acme/web", "commit": SHA, "previous_commit": ""}],
        "environments": [],
        "deployments": [],
    }
    assert_exact_json(response, expected)
    assert expected["version"] == "3.0.0"
    assert expected["projects"] == ["Zeta", "api", "web"]  # by code point
    assert expected["date_released"] == "2024-06-01T13:30:00.250000Z"
    first, bare = expected["commits"]
    assert (first["repository"], first["timestamp"], first["pr_number"]) == (
        "acme/web",
        "2024-06-01T02:30:00.000005Z",
        7,
    )
    assert (bare["repository"], bare["message"], bare["timestamp"], bare["pr_number"]) == (None, "", None, None)


def test_a_release_reads_back_as_it_was_answered(api, org):
    created = post(api, "/api/v1/releases/", RELEASE)
    release = Release.objects.get(organization=org)

    detail = api.get(f"/api/v1/releases/{release.public_id}/")
    [listed] = api.get("/api/v1/releases/").json()["results"]

    assert detail.content == created.content
    summary = {key: value for key, value in created.json().items() if key in expected_release(release, 2)}
    assert list(listed) == list(summary)
    assert listed == summary


def test_a_release_with_a_deployment_answers_where_it_is_deployed(api, org):
    post(api, "/api/v1/releases/", {"version": "3.1.0"})
    post(api, "/api/v1/deployments/", {"environment": "production", "release": "3.1.0"})
    release = Release.objects.get(organization=org)
    deployment = Deployment.objects.get(organization=org)

    body = api.get(f"/api/v1/releases/{release.public_id}/").json()

    assert body["environments"] == [
        {
            "environment": "production",
            "is_production": True,
            "status": "success",
            "deployment_id": str(deployment.public_id),
            "occurred_at": drf_time(deployment.occurred_at),
        }
    ]
    assert body["deployments"] == [expected_deployment(deployment)]


def test_a_commit_answers_every_field_in_order(api, org):
    post(api, "/api/v1/releases/", RELEASE)
    commit = Commit.objects.get(organization=org, sha=SHA)

    response = api.get(f"/api/v1/commits/{commit.public_id}/")

    assert response.status_code == 200
    assert_exact_json(response, expected_commit(commit))
    assert response.json()["author_name"] == "Zoë"


def test_the_release_list_reads_projects_in_one_query_whatever_the_page_size(api, org, django_assert_num_queries):
    for index in range(3):
        release_create(organization=org, version=f"1.0.{index}", projects=["web", f"p{index}"])
    api.get("/api/v1/releases/")  # the token's first use also records its last-used time
    with django_assert_num_queries(3):  # the token, the page, the page's projects
        response = api.get("/api/v1/releases/")
    assert [item["projects"] for item in response.json()["results"]] == [["p2", "web"], ["p1", "web"], ["p0", "web"]]


def test_a_release_created_through_the_service_renders_its_projects_and_commit_count(api, org):
    release, _ = release_create(
        organization=org,
        version="4.0.0",
        projects=["b", "a"],
        commits=[CommitInput(sha=SHA)],
        date_released=datetime(2024, 6, 1, 9, 30, tzinfo=timezone(timedelta(hours=-4))),
    )
    deployment_record(organization=org, environment="staging", release="4.0.0")

    [listed] = api.get("/api/v1/releases/").json()["results"]

    assert (listed["projects"], listed["commit_count"], listed["date_released"]) == (
        ["a", "b"],
        1,
        "2024-06-01T13:30:00Z",
    )


# Created answers -----------------------------------------------------------------------------

CREATES = {
    "deployment": ("/api/v1/deployments/", {**MINIMAL, "external_id": "run-1"}),
    "release": ("/api/v1/releases/", {"version": "5.0.0", "projects": ["api"]}),
    "environment": ("/api/v1/environments/", {"name": "qa"}),
    "project": ("/api/v1/projects/", {"name": "web"}),
    "repository": ("/api/v1/repositories/", {"name": "acme/web"}),
}


@pytest.mark.parametrize("url, body", CREATES.values(), ids=CREATES.keys())
def test_a_create_is_a_201_with_the_location_of_the_new_object_and_a_repeat_a_303_to_it(api, url, body):
    first = post(api, url, body)
    again = post(api, url, body)

    assert (first.status_code, again.status_code) == (201, 303), (first.content, again.content)
    assert first["Location"] == f"{url}{first.json()['id']}/"
    assert again["Location"] == first["Location"]
    assert again.json() == first.json()
    assert api.get(first["Location"]).json() == first.json()
    assert first["Content-Type"] == again["Content-Type"] == "application/json"


def test_a_create_with_an_idempotency_key_answers_as_one_without(api):
    plain = post(api, "/api/v1/environments/", {"name": "plain"})
    keyed = post(api, "/api/v1/environments/", {"name": "keyed"}, HTTP_IDEMPOTENCY_KEY="k-1")
    replayed = post(api, "/api/v1/environments/", {"name": "keyed"}, HTTP_IDEMPOTENCY_KEY="k-1")

    assert plain.status_code == keyed.status_code == replayed.status_code == 201
    assert list(plain.json()) == list(keyed.json()) == ["id", "name", "is_production", "created_at"]
    for header in ("Content-Type", "Allow", "X-Content-Type-Options", "X-Frame-Options"):
        assert plain[header] == keyed[header], header
    assert keyed["Location"] == replayed["Location"] == f"/api/v1/environments/{keyed.json()['id']}/"
    assert replayed.json() == keyed.json()
    assert replayed["Idempotent-Replayed"] == "true"


def test_a_create_asked_for_indented_json_gets_it(api):
    response = api.post(
        "/api/v1/environments/", {"name": "indented"}, format="json", HTTP_ACCEPT="application/json; indent=2"
    )
    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    assert b'\n  "name": "indented"' in response.content


@pytest.fixture
def restore_script_prefix():
    yield
    set_script_prefix("/")


def test_the_location_of_a_create_honours_the_script_prefix(api, restore_script_prefix):
    # Django's WSGI handler sets the prefix from SCRIPT_NAME for each request; the test client
    # does not, so the test sets it as the handler would for SCRIPT_NAME=/tracker.
    body = {"environment": "production", "commit_sha": SHA}
    set_script_prefix("/")
    first = api.post("/api/v1/deployments/", body, format="json")
    assert first["Location"] == f"/api/v1/deployments/{first.json()['id']}/"
    set_script_prefix("/tracker/")
    second = api.post("/api/v1/deployments/", body, format="json", SCRIPT_NAME="/tracker")
    assert second.status_code == 201
    assert second["Location"] == f"/tracker/api/v1/deployments/{second.json()['id']}/"


# Content negotiation -----------------------------------------------------------------------


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", " application/json ", "application/*"])
def test_plain_json_accept_values_get_json(api, accept):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    response = api.get("/api/v1/releases/", **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["results"] == []


@pytest.mark.parametrize("accept", ["application/xml", "text/html", "text/plain, application/xml;q=0.9"])
def test_an_accept_value_the_api_cannot_satisfy_is_a_406_in_the_error_shape(api, accept):
    response = api.get("/api/v1/releases/", HTTP_ACCEPT=accept)
    assert response.status_code == 406
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "Could not satisfy the request Accept header.", "code": "not_acceptable"}


def test_a_json_accept_with_an_indent_gets_indented_json(api):
    response = api.get("/api/v1/releases/", HTTP_ACCEPT="application/json; indent=4")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert b'\n    "results": []' in response.content


def test_a_format_override_picks_a_renderer_the_api_has(api):
    assert api.get("/api/v1/releases/?format=json").status_code == 200
    assert api.get("/api/v1/releases/?format=csv").status_code == 200
    unknown = api.get("/api/v1/releases/?format=xml")
    assert unknown.status_code == 400
    assert unknown.json()["fields"] == {"format": ["must be one of: json, csv"]}


# JSON parser -------------------------------------------------------------------------------


def post_raw(client, body: bytes, content_type: str = "application/json"):
    return client.generic("POST", "/api/v1/deployments/", body, content_type=content_type)


def assert_malformed_json(response) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "malformed_request"
    assert body["error"].startswith("body: JSON parse error - "), body
    return body


@pytest.mark.parametrize("raw", [b'{"environment": ', b"{'environment': 'production'}", b'{"a": 1} trailing', b"{,}"])
def test_invalid_json_is_a_400_naming_json(api, raw):
    assert_malformed_json(post_raw(api, raw))


@pytest.mark.parametrize("raw", [b"\xff\xfe", b'{"environment": "\xe9t\xe9"}', b'{"title": "\xed\xa0\x80"}'])
def test_a_body_that_is_not_utf8_is_a_400_not_a_500(api, raw):
    body = assert_malformed_json(post_raw(api, raw))
    assert "utf-8" in body["error"]


def test_a_body_in_the_charset_it_names_is_read_in_that_charset(api):
    raw = json.dumps({"environment": "pré-prod", "commit_sha": SHA}, ensure_ascii=False).encode("latin-1")
    response = post_raw(api, raw, content_type="application/json; charset=latin-1")
    assert response.status_code == 201, response.content
    assert response.json()["environment"] == "pré-prod"


def test_a_charset_that_is_not_a_text_encoding_is_a_400(api):
    # bz2_codec decodes bytes to bytes: it would decompress a small body into a large one.
    response = post_raw(api, b"{}", content_type="application/json; charset=bz2_codec")
    assert response.status_code == 400
    assert response.json() == {
        "error": 'body: Unsupported charset "bz2_codec" in request Content-Type header.',
        "code": "malformed_request",
    }


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused_as_drfs_strict_json_does(api, literal):
    # STRICT_JSON is DRF's default (True) here: NaN and the infinities are not JSON.
    assert JSONParser.strict is True
    raw = json.dumps(MINIMAL)[:-1].encode() + b', "duration_seconds": ' + literal.encode() + b"}"
    body = assert_malformed_json(post_raw(api, raw))
    assert literal in body["error"]


def test_non_finite_numbers_parse_when_strict_json_is_off(monkeypatch):
    monkeypatch.setattr(JSONParser, "strict", False)
    parsed = JSONParser().parse(BytesIO(b'{"a": NaN, "b": -Infinity}'))
    assert math.isnan(parsed["a"]) and parsed["b"] == -math.inf


def test_input_nested_too_deeply_is_a_400(api):
    body = assert_malformed_json(post_raw(api, b"[" * 100_000))
    assert body["error"] == "body: JSON parse error - nested too deeply"


def test_an_empty_body_is_an_empty_object(api):
    response = post_raw(api, b"")
    assert response.status_code == 400
    assert response.json()["fields"] == {"environment": ["This field is required."]}


# Rate limits: the sliding window -----------------------------------------------------------

RATE_CACHE = "test-api-plumbing-rate-limits"
WINDOW_START = 1_700_000_040.0  # a multiple of 60: t=0 opens a one-minute window


class FakeClock:
    def __init__(self, now: float):
        self.now = now

    def time(self) -> float:
        return self.now

    def at(self, seconds: float) -> "FakeClock":
        """Seconds since the first window opened."""
        self.now = WINDOW_START + seconds
        return self


@pytest.fixture
def clock(monkeypatch):
    # The throttle module calls time.time(); it gets this clock as its ``time`` (the real time
    # module, which the cache and everything else keep using, is left alone).
    fake = FakeClock(WINDOW_START)
    monkeypatch.setattr(throttling, "time", fake)
    return fake


@pytest.fixture
def ten_a_minute(settings):
    """Ten requests a minute per token, counted in a local-memory cache of this module's own."""
    settings.CACHES = {
        **settings.CACHES,
        RATE_CACHE: {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": RATE_CACHE},
    }
    settings.RATE_LIMIT_CACHE = RATE_CACHE
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "10/min", "anon": "10/min"},
    }
    caches[RATE_CACHE].clear()
    yield
    caches[RATE_CACHE].clear()


@pytest.fixture
def token(org):
    return issue_token(org, name="throttled")[0]


def attempt(token) -> tuple[bool, TokenRateThrottle]:
    """One request as DRF makes it: a new throttle per request, the request authenticated by ``token``."""
    throttle = TokenRateThrottle()
    return throttle.allow_request(SimpleNamespace(auth=token, META={}), None), throttle


def allowed(token) -> bool:
    return attempt(token)[0]


def spend_the_first_window(clock, token) -> None:
    """Ten requests at t=0..9s: the whole budget of the first window."""
    for second in range(10):
        clock.at(second)
        assert allowed(token), f"request at t={second}s"


def test_ten_requests_in_a_minute_pass_and_the_eleventh_is_refused(ten_a_minute, clock, token):
    spend_the_first_window(clock, token)
    clock.at(10)
    assert not allowed(token)
    clock.at(59.9)
    assert not allowed(token)  # refused requests are not counted, but the window is still full


def test_at_the_start_of_the_next_window_the_previous_one_still_weighs_almost_all(ten_a_minute, clock, token):
    spend_the_first_window(clock, token)
    # At 60.5s the previous window weighs 59.5/60: an estimate of 9.92, so one request passes
    # (a fixed window would let ten through), and then the estimate is 10.92.
    clock.at(60.5)
    assert allowed(token)
    assert not allowed(token)
    clock.at(61)
    assert not allowed(token)


def test_half_way_through_the_next_window_half_of_the_previous_one_counts(ten_a_minute, clock, token):
    spend_the_first_window(clock, token)
    clock.at(90)  # the previous ten weigh 5
    assert [allowed(token) for _ in range(6)] == [True] * 5 + [False]


def test_two_windows_later_the_first_one_counts_no_more(ten_a_minute, clock, token):
    spend_the_first_window(clock, token)
    clock.at(120)
    assert [allowed(token) for _ in range(11)] == [True] * 10 + [False]


@pytest.mark.parametrize("refused_at, spent_before", [(10, 0), (75, 3), (90, 5), (119, 10)])
def test_wait_is_between_one_second_and_two_windows_and_a_request_passes_just_after_it(
    ten_a_minute, clock, token, refused_at, spent_before
):
    spend_the_first_window(clock, token)
    clock.at(refused_at)
    for _ in range(spent_before):
        assert allowed(token)
    ok, throttle = attempt(token)
    assert not ok
    wait = throttle.wait()
    assert 1 <= wait <= 120
    clock.at(refused_at + wait + 0.001)
    assert allowed(token)


def test_wait_after_spending_a_whole_window_is_the_rest_of_that_window(ten_a_minute, clock, token):
    spend_the_first_window(clock, token)
    clock.at(10)
    ok, throttle = attempt(token)
    assert not ok
    # The rest of the window, and a moment more: at the boundary itself the estimate is still 10.
    assert 50 < throttle.wait() <= 50.01
    clock.at(59.999)
    assert not allowed(token)


def test_after_sleeping_what_wait_says_a_request_passes(ten_a_minute, clock, token):
    spend_the_first_window(clock, token)
    clock.at(10)
    ok, throttle = attempt(token)
    assert not ok
    clock.at(10 + throttle.wait())  # 60.0: the previous ten still weigh 60/60
    assert allowed(token)


def test_each_token_has_its_own_window(ten_a_minute, clock, org, other_org, token):
    second = issue_token(org, name="second")[0]
    foreign = issue_token(other_org, name="foreign")[0]
    spend_the_first_window(clock, token)
    assert not allowed(token)
    assert [allowed(second) for _ in range(11)] == [True] * 10 + [False]
    assert allowed(foreign)
    clock.at(90)
    assert [allowed(token) for _ in range(6)] == [True] * 5 + [False]
    assert [allowed(second) for _ in range(6)] == [True] * 5 + [False]


def test_the_api_answers_429_with_the_throttles_wait(ten_a_minute, clock, api):
    for second in range(10):
        clock.at(second)
        assert api.get("/api/v1/releases/").status_code == 200
    clock.at(10)
    response = api.get("/api/v1/releases/")
    assert response.status_code == 429
    assert response["Retry-After"] == "51"  # the 50 s left in the window, rounded up past the boundary
    assert response.json()["code"] == "throttled"
    clock.at(90)
    assert [api.get("/api/v1/releases/").status_code for _ in range(6)] == [200] * 5 + [429]
