"""Hostile input to the native API: a 4xx naming the field and the reason, never a 500, never a partial write."""

import json
from urllib.parse import quote

import pytest

from deployments.models import Deployment, DeploymentStatusChange, Environment
from releases.models import Commit, Project, Release, ReleaseCommit, ReleaseRef, Repository
from releases.services import MAX_COMMITS_PER_REQUEST
from releasetracker.models import IdempotencyKey

pytestmark = pytest.mark.django_db

SHA = "a" * 40
GOOD_RELEASE = {
    "version": "2.0.0",
    "name": "Two",
    "ref": "main",
    "url": "https://ci.example.com/2.0.0",
    "date_released": "2024-05-01T12:00:00Z",
    "projects": ["web"],
    "commits": [{"sha": SHA, "repository": "acme/web", "message": "m", "author_name": "A", "author_email": "a@x.io"}],
    "refs": [{"repository": "acme/web", "commit": SHA}],
}
GOOD_DEPLOYMENT = {
    "environment": "production",
    "commit_sha": SHA,
    "project": "web",
    "title": "t",
    "changelog": "c",
    "url": "https://ci.example.com/d/1",
    "branch": "main",
    "triggered_by": "ci",
    "external_id": "run-1",
    "member": "alice",
    "repository_url": "https://github.com/acme/web",
    "tags": ["is_fix"],
}
MODELS = [
    Release,
    Commit,
    ReleaseCommit,
    ReleaseRef,
    Project,
    Repository,
    Deployment,
    DeploymentStatusChange,
    Environment,
    IdempotencyKey,
]


def snapshot() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


def post(api, path: str, body, content_type: str = "application/json"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return api.generic("POST", path, data, content_type=content_type)


def assert_refused(response, *, status: int = 400, names: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert isinstance(body["error"], str) and body["error"].strip()
    assert isinstance(body["code"], str) and body["code"]
    if names:
        assert names in body["error"], body
    return body


# Malformed bodies and content types --------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/releases/", "/api/v1/deployments/"])
@pytest.mark.parametrize(
    "raw",
    [
        b'{"version": "1.0",',
        b"{'version': '1.0'}",
        b"\xff\xfe\x00garbage",
        b'{"version": NaN}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    ],
    ids=["truncated", "single-quotes", "not-utf8", "nan", "deeply-nested-list", "deeply-nested-object"],
)
def test_malformed_json_is_a_400_naming_the_body(api, path, raw):
    before = snapshot()
    body = assert_refused(post(api, path, raw))
    assert body["error"].startswith("body:")
    assert snapshot() == before


@pytest.mark.parametrize("path", ["/api/v1/releases/", "/api/v1/deployments/"])
@pytest.mark.parametrize(
    "body", [[], "1.0", None, 42, [GOOD_RELEASE]], ids=["list", "string", "null", "number", "list-of-objects"]
)
def test_a_body_that_is_not_an_object_is_a_400(api, path, body):
    before = snapshot()
    assert_refused(post(api, path, body))
    assert snapshot() == before


@pytest.mark.parametrize("path", ["/api/v1/releases/", "/api/v1/deployments/"])
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"],
)
def test_a_wrong_content_type_is_a_415(api, path, content_type):
    before = snapshot()
    body = assert_refused(post(api, path, json.dumps(GOOD_RELEASE), content_type=content_type), status=415)
    assert body["code"] == "unsupported_media_type"
    assert snapshot() == before


# Wrong types ---------------------------------------------------------------------------------

RELEASE_WRONG_TYPES = [
    ("version", {"a": 1}),
    ("version", ["1.0"]),
    ("version", True),
    ("projects", "web"),
    ("projects", {"web": 1}),
    ("projects", [["web"]]),
    ("commits", SHA),
    ("commits", [123]),
    ("commits", [{"sha": {"id": SHA}}]),
    ("commits", [{"sha": SHA, "pr_number": "twelve"}]),
    ("commits", [{"sha": SHA, "timestamp": 1714564800}]),
    ("date_released", 1714564800),
    ("date_released", True),
    ("refs", {"repository": "acme/web"}),
    ("url", 12),
    ("url", "javascript:alert(1)"),
]


@pytest.mark.parametrize(
    ("field", "value"), RELEASE_WRONG_TYPES, ids=[f"{f}-{v!r}"[:40] for f, v in RELEASE_WRONG_TYPES]
)
def test_a_release_field_of_the_wrong_type_is_a_400_naming_it(api, field, value):
    before = snapshot()
    assert_refused(post(api, "/api/v1/releases/", {**GOOD_RELEASE, field: value}), names=field)
    assert snapshot() == before


DEPLOYMENT_WRONG_TYPES = [
    ("environment", ["production"]),
    ("environment", {"name": "production"}),
    ("commit_sha", [SHA]),
    ("status", "exploded"),
    ("status", ["success"]),
    ("is_fix", "maybe"),
    ("duration_seconds", "fast"),
    ("duration_seconds", -5),
    ("duration_seconds", 1e308),
    ("pull_request_number", "12x"),
    ("pull_request_number", 2**70),
    ("commits_count", -1),
    ("tags", 5),
    ("tags", [1, 2]),
    ("started_at", 0),
]


@pytest.mark.parametrize(
    ("field", "value"), DEPLOYMENT_WRONG_TYPES, ids=[f"{f}-{v!r}"[:40] for f, v in DEPLOYMENT_WRONG_TYPES]
)
def test_a_deployment_field_of_the_wrong_type_is_a_400_naming_it(api, field, value):
    before = snapshot()
    assert_refused(post(api, "/api/v1/deployments/", {**GOOD_DEPLOYMENT, field: value}), names=field)
    assert snapshot() == before


# Null bytes and lengths in every string field ------------------------------------------------

RELEASE_STRINGS = ["version", "name", "ref", "url"]
COMMIT_STRINGS = ["sha", "repository", "message", "author_name", "author_email"]
DEPLOYMENT_STRINGS = [
    "environment",
    "commit_sha",
    "project",
    "title",
    "changelog",
    "url",
    "branch",
    "triggered_by",
    "external_id",
    "member",
    "repository_url",
]


def with_nul(value: str) -> str:
    return value[:3] + "\x00" + value[3:]


@pytest.mark.parametrize("field", RELEASE_STRINGS)
def test_a_nul_byte_in_a_release_field_is_a_400(api, field):
    before = snapshot()
    assert_refused(
        post(api, "/api/v1/releases/", {**GOOD_RELEASE, field: with_nul(str(GOOD_RELEASE[field]))}), names=field
    )
    assert snapshot() == before


@pytest.mark.parametrize("field", COMMIT_STRINGS)
def test_a_nul_byte_in_a_commit_field_is_a_400(api, field):
    commit = {**GOOD_RELEASE["commits"][0]}
    commit[field] = with_nul(commit[field])
    before = snapshot()
    assert_refused(post(api, "/api/v1/releases/", {**GOOD_RELEASE, "commits": [commit]}), names=field)
    assert snapshot() == before


@pytest.mark.parametrize("where", ["projects", "refs.repository", "refs.commit", "commits-as-string"])
def test_a_nul_byte_in_a_nested_release_string_is_a_400(api, where):
    payload = json.loads(json.dumps(GOOD_RELEASE))
    if where == "projects":
        payload["projects"] = ["we\x00b"]
    elif where == "commits-as-string":
        payload["commits"] = [with_nul(SHA)]
    else:
        key = where.split(".")[1]
        payload["refs"][0][key] = with_nul(payload["refs"][0][key])
    before = snapshot()
    assert_refused(post(api, "/api/v1/releases/", payload), names=where.split(".")[0].replace("-as-string", ""))
    assert snapshot() == before


@pytest.mark.parametrize("field", [*DEPLOYMENT_STRINGS, "tags"])
def test_a_nul_byte_in_a_deployment_field_is_a_400(api, field):
    value = ["is_\x00fix"] if field == "tags" else with_nul(GOOD_DEPLOYMENT[field])
    before = snapshot()
    assert_refused(post(api, "/api/v1/deployments/", {**GOOD_DEPLOYMENT, field: value}), names=field)
    assert snapshot() == before


RELEASE_LIMITS = {"version": 200, "name": 200, "ref": 200}
DEPLOYMENT_LIMITS = {
    "environment": 100,
    "project": 200,
    "title": 500,
    "changelog": 65_536,
    "branch": 255,
    "triggered_by": 200,
    "external_id": 200,
    "member": 200,
}


@pytest.mark.parametrize(("field", "limit"), RELEASE_LIMITS.items())
def test_a_release_string_over_its_limit_is_a_400_and_at_the_limit_is_fine(api, field, limit):
    before = snapshot()
    assert_refused(post(api, "/api/v1/releases/", {**GOOD_RELEASE, field: "x" * (limit + 1)}), names=field)
    assert snapshot() == before
    response = post(api, "/api/v1/releases/", {**GOOD_RELEASE, field: "y" * limit})
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize(("field", "limit"), DEPLOYMENT_LIMITS.items())
def test_a_deployment_string_over_its_limit_is_a_400_and_at_the_limit_is_fine(api, field, limit):
    before = snapshot()
    assert_refused(post(api, "/api/v1/deployments/", {**GOOD_DEPLOYMENT, field: "x" * (limit + 1)}), names=field)
    assert snapshot() == before
    response = post(api, "/api/v1/deployments/", {**GOOD_DEPLOYMENT, field: "y" * limit})
    assert response.status_code == 201, response.json()


def test_a_url_over_its_limit_is_a_400(api):
    long_url = "https://ci.example.com/" + "x" * 500
    before = snapshot()
    assert_refused(post(api, "/api/v1/releases/", {**GOOD_RELEASE, "url": long_url}), names="url")
    assert_refused(post(api, "/api/v1/deployments/", {**GOOD_DEPLOYMENT, "url": long_url}), names="url")
    assert snapshot() == before


def test_a_commit_message_over_64_kib_is_a_400(api):
    commit = {**GOOD_RELEASE["commits"][0], "message": "m" * 65_537}
    before = snapshot()
    assert_refused(post(api, "/api/v1/releases/", {**GOOD_RELEASE, "commits": [commit]}), names="message")
    assert snapshot() == before


def test_one_bad_commit_among_many_stores_nothing(api):
    commits = [f"{n:040x}" for n in range(500)]
    commits[499] = "not-a-sha"
    before = snapshot()
    body = assert_refused(post(api, "/api/v1/releases/", {"version": "3.0", "commits": commits}), names="commits.499")
    assert "not a commit sha" in body["error"]
    assert snapshot() == before


# Volume --------------------------------------------------------------------------------------


def test_ten_thousand_commits_in_one_release_are_stored_whole_within_the_body_limit(api, settings):
    commits = [{"sha": f"{n:040x}", "message": f"change {n}"} for n in range(MAX_COMMITS_PER_REQUEST)]
    raw = json.dumps({"version": "big", "commits": commits})
    assert MAX_COMMITS_PER_REQUEST == 10_000
    assert len(raw) < settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = post(api, "/api/v1/releases/", raw)
    assert response.status_code == 201, response.content[:300]
    assert response.json()["commit_count"] == 10_000
    assert ReleaseCommit.objects.count() == 10_000


def test_one_commit_over_the_limit_is_refused_naming_the_limit(api):
    commits = [f"{n:040x}" for n in range(MAX_COMMITS_PER_REQUEST + 1)]
    before = snapshot()
    body = assert_refused(post(api, "/api/v1/releases/", {"version": "huge", "commits": commits}), names="commits")
    assert "10000" in body["error"]
    assert snapshot() == before


# Times ---------------------------------------------------------------------------------------

BAD_TIMES = {
    "not-a-date": "yesterday",
    "impossible-month": "2024-13-01T00:00:00Z",
    "impossible-day": "2024-02-30T00:00:00Z",
    "naive": "2024-05-01T12:00:00",
    "date-only": "2024-05-01",
    "far-future": "9999-12-31T23:59:59Z",
    "next-year": "2099-01-01T00:00:00+00:00",
    "beyond-year-9999": "+10000-01-01T00:00:00Z",
    "before-1970": "1900-01-01T00:00:00Z",
    "offset-out-of-range": "2024-05-01T12:00:00+25:00",
}


@pytest.mark.parametrize("value", BAD_TIMES.values(), ids=BAD_TIMES.keys())
def test_a_bad_release_date_is_a_400(api, value):
    before = snapshot()
    assert_refused(post(api, "/api/v1/releases/", {**GOOD_RELEASE, "date_released": value}), names="date_released")
    assert snapshot() == before


@pytest.mark.parametrize("value", BAD_TIMES.values(), ids=BAD_TIMES.keys())
@pytest.mark.parametrize("field", ["started_at", "finished_at", "deployed_at"])
def test_a_bad_deployment_time_is_a_400(api, field, value):
    before = snapshot()
    assert_refused(post(api, "/api/v1/deployments/", {**GOOD_DEPLOYMENT, field: value}), names=field)
    assert snapshot() == before


def test_a_naive_time_is_refused_with_a_hint_about_the_timezone(api):
    body = assert_refused(post(api, "/api/v1/releases/", {**GOOD_RELEASE, "date_released": "2024-05-01T12:00:00"}))
    assert "timezone" in body["error"]


@pytest.mark.parametrize("value", BAD_TIMES.values(), ids=BAD_TIMES.keys())
def test_a_bad_commit_timestamp_is_a_400(api, value):
    commit = {**GOOD_RELEASE["commits"][0], "timestamp": value}
    before = snapshot()
    assert_refused(post(api, "/api/v1/releases/", {**GOOD_RELEASE, "commits": [commit]}), names="timestamp")
    assert snapshot() == before


# PATCH ---------------------------------------------------------------------------------------


@pytest.fixture
def release(api):
    response = post(api, "/api/v1/releases/", GOOD_RELEASE)
    assert response.status_code == 201
    return response.json()


@pytest.fixture
def deployment(api):
    response = post(api, "/api/v1/deployments/", {**GOOD_DEPLOYMENT, "status": "in_progress"})
    assert response.status_code == 201
    return response.json()


def patch(api, path: str, body, content_type: str = "application/json"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return api.generic("PATCH", path, data, content_type=content_type)


RELEASE_PATCHES = [
    ({"status": "exploded"}, "status"),
    ({"status": None}, "status"),
    ({"name": "a\x00b"}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"ref": ["main"]}, "ref"),
    ({"url": "not a url"}, "url"),
    ({"date_released": "2024-05-01T12:00:00"}, "date_released"),
    ({"date_released": "9999-01-01T00:00:00Z"}, "date_released"),
    ({"projects": "web"}, "projects"),
    ({"projects": ["we\x00b"]}, "projects"),
]


@pytest.mark.parametrize(
    ("body", "names"), RELEASE_PATCHES, ids=[n + str(i) for i, (_, n) in enumerate(RELEASE_PATCHES)]
)
def test_a_bad_release_patch_is_a_400_and_changes_nothing(api, release, body, names):
    path = f"/api/v1/releases/{release['id']}/"
    before = api.get(path).json()
    counts = snapshot()
    assert_refused(patch(api, path, body), names=names)
    assert api.get(path).json() == before
    assert snapshot() == counts


@pytest.mark.parametrize("raw", [b"{", b"[]", b"null"])
def test_a_malformed_release_patch_is_a_400(api, release, raw):
    path = f"/api/v1/releases/{release['id']}/"
    before = api.get(path).json()
    assert_refused(patch(api, path, raw))
    assert api.get(path).json() == before


def test_a_release_patch_with_the_wrong_content_type_is_a_415(api, release):
    path = f"/api/v1/releases/{release['id']}/"
    assert_refused(patch(api, path, "status=success", content_type="application/x-www-form-urlencoded"), status=415)
    assert api.get(path).json()["status"] == release["status"]


DEPLOYMENT_PATCHES = [
    ({"status": "exploded"}, "status"),
    ({"status": "success", "at": "2024-05-01T12:00:00"}, "at"),
    ({"status": "success", "at": "9999-01-01T00:00:00Z"}, "at"),
    ({"title": "a\x00b"}, "title"),
    ({"changelog": "c" * 65_537}, "changelog"),
    ({"branch": {"name": "main"}}, "branch"),
    ({"url": "ftp://\x00"}, "url"),
]


@pytest.mark.parametrize(
    ("body", "names"), DEPLOYMENT_PATCHES, ids=[n + str(i) for i, (_, n) in enumerate(DEPLOYMENT_PATCHES)]
)
def test_a_bad_deployment_patch_is_a_400_and_changes_nothing(api, deployment, body, names):
    path = f"/api/v1/deployments/{deployment['id']}/"
    before = api.get(path).json()
    counts = snapshot()
    assert_refused(patch(api, path, body), names=names)
    assert api.get(path).json() == before
    assert snapshot() == counts


# Text stored verbatim and rendered escaped -----------------------------------------------------

NASTY = {
    "sql": "'; DROP TABLE releases_release; --",
    "html": '<script>alert("x")</script><img src=x onerror=alert(1)>',
    "unicode": "Ünïcödé 名前 — עברית — 🚀🎉👩‍💻",
    "quotes": "\"double\" 'single' `back` \\ backslash",
}


@pytest.mark.parametrize("kind", NASTY)
def test_odd_text_round_trips_verbatim_through_a_release(api, kind):
    text = NASTY[kind]
    version = f"1.0-{kind}-🚀" if kind == "unicode" else f"1.0-{kind}"
    payload = {
        **GOOD_RELEASE,
        "version": version,
        "name": text,
        "ref": text[:200],
        "projects": [text],
        "commits": [{"sha": SHA, "message": text, "author_name": text, "repository": "acme/web"}],
    }
    created = post(api, "/api/v1/releases/", payload)
    assert created.status_code == 201, created.json()
    detail = api.get(created["Location"]).json()
    assert detail["version"] == version
    assert detail["name"] == text
    assert detail["projects"] == [text]
    assert detail["commits"][0]["message"] == text
    assert detail["commits"][0]["author_name"] == text
    # The same payload again is the same release: stored text compares equal to what was sent.
    assert post(api, "/api/v1/releases/", payload).status_code == 303
    assert Release.objects.count() == 1


@pytest.mark.parametrize("kind", NASTY)
def test_odd_text_round_trips_verbatim_through_a_deployment(api, kind):
    text = NASTY[kind]
    payload = {**GOOD_DEPLOYMENT, "title": text, "changelog": text, "branch": text, "member": text, "external_id": text}
    created = post(api, "/api/v1/deployments/", payload)
    assert created.status_code == 201, created.json()
    detail = api.get(created["Location"]).json()
    for field in ("title", "changelog", "branch", "member", "external_id"):
        assert detail[field] == text


def test_html_and_sql_in_every_text_field_are_escaped_on_the_release_page(api, client, alice, org):
    html = NASTY["html"]
    sql = NASTY["sql"]
    payload = {
        "version": "9.9.9",
        "name": html + sql,
        "ref": html,
        "projects": [html],
        "commits": [
            {"sha": SHA, "message": html + sql, "author_name": html, "author_email": html, "repository": "acme/web"}
        ],
    }
    assert post(api, "/api/v1/releases/", payload).status_code == 201
    deployment = {
        **GOOD_DEPLOYMENT,
        "release": "9.9.9",
        "environment": html,
        "title": html,
        "changelog": html,
        "branch": html,
        "member": html,
        "triggered_by": html,
    }
    assert post(api, "/api/v1/deployments/", deployment).status_code == 201
    client.force_login(alice)
    response = client.get(f"/orgs/{org.slug}/releases/{quote('9.9.9')}/")
    if response.status_code == 404 and b"<html" not in response.content[:200].lower():
        pytest.skip("the release page does not exist yet")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(" in page
    assert "DROP TABLE releases_release" in page  # shown as text, and the table is still there
    assert Release.objects.filter(version="9.9.9").exists()
    # Every other page that shows these fields escapes them too.
    for path in (
        "releases/",
        "deployments/",
        "metrics/",
        f"releases/?q={quote(html)}",
        f"deployments/?environment={quote(html)}",
    ):
        other = client.get(f"/orgs/{org.slug}/{path}")
        assert other.status_code == 200, path
        text = other.content.decode()
        assert "<script>alert" not in text, path
        assert "<img src=x" not in text, path


def test_an_extreme_but_valid_utc_offset_is_stored_in_utc(api):
    # Python accepts offsets up to ±23:59; PostgreSQL refuses beyond ±15:59. Found by fuzzing.
    response = post(api, "/api/v1/releases/", {**GOOD_RELEASE, "date_released": "2024-05-01T12:00:00+23:59"})
    assert response.status_code == 201, response.json()
    assert response.json()["date_released"] == "2024-04-30T12:01:00Z"


@pytest.mark.parametrize("path", ["/api/v1/releases/", "/api/v1/deployments/"])
@pytest.mark.parametrize("value", ["1965-09-12T10:33:02+19:02", "0104-03-29T07:03:19Z", "7253-06-30T12:44:40-23:49"])
def test_list_filters_take_any_parseable_time_without_a_500(api, path, value):
    response = api.get(path, {"since": value, "until": value})
    assert response.status_code == 200, response.content[:300]


def test_a_garbled_cursor_is_a_400_naming_it(api):
    body = assert_refused(api.get("/api/v1/releases/", {"cursor": "not-a-cursor"}), names="cursor")
    assert body["code"] == "validation_error"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/signals/releases",
        "/api/0/organizations/acme/releases/",
        "/compat/multitudes/deployments",
        "/compat/iftrue/v1/organization/deployment",
        "/api/releases/web/environments/production/deployments",
    ],
)
def test_vendor_endpoints_refuse_json_nested_too_deeply_without_a_500(api, path):
    before = snapshot()
    response = post(api, path, b"[" * 100_000 + b"]" * 100_000)
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:200])
    assert snapshot() == before
