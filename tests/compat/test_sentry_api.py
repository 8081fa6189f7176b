"""The Sentry-compatible release API at /api/0/: routes, status codes, shapes, tenancy (sentry-cli.md)."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from deployments.models import Deployment, DeploymentStatus
from integrations.sentry.shapes import sentry_id
from releases.models import Commit, Release, ReleaseRef, Repository, Source
from tests.factories import (
    DeploymentFactory,
    ProjectFactory,
    ReleaseFactory,
    ReleaseProjectFactory,
    RepositoryFactory,
)

ORG = "/api/0/organizations/acme"
HEAD = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
PREV = "0f1e2d3c4b5a69788796a5b4c3d2e1f001234567"


def post(client, url, data):
    return client.post(url, data, format="json")


def put(client, url, data):
    return client.put(url, data, format="json")


def assert_sentry_date(value: str) -> None:
    # sentry-cli refuses dates without an offset.
    assert value.endswith("Z")
    datetime.fromisoformat(value)


@pytest.fixture
def repo(org):
    return RepositoryFactory(organization=org, name="acme/web", url="https://github.com/acme/web", provider="github")


@pytest.fixture
def release(org):
    release = ReleaseFactory(organization=org, version="web@1.0.0")
    ReleaseProjectFactory(release=release, project=ProjectFactory(organization=org, name="web"))
    return release


# GET /api/0/ -------------------------------------------------------------------------------


def test_index_shows_the_scopes_of_a_write_token(api):
    response = api.get("/api/0/")
    assert response.status_code == 200
    assert response.json() == {
        "version": "0",
        "auth": {"scopes": ["org:read", "project:read", "project:releases", "project:write"]},
        "user": None,
    }


def test_index_shows_only_read_scopes_for_a_read_token(read_api):
    assert read_api.get("/api/0/").json()["auth"] == {"scopes": ["org:read", "project:read"]}


def test_index_without_a_token_answers_auth_null(client, db):
    response = client.get("/api/0/")
    assert response.status_code == 200
    assert response.json()["auth"] is None


def test_index_rejects_an_unknown_token_with_a_detail(client, db):
    response = client.get("/api/0/", HTTP_AUTHORIZATION="Bearer rt_nope")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token"}


def test_the_docs_basic_auth_with_the_token_as_key_is_accepted(client, write_token):
    credentials = base64.b64encode(f"{write_token[1]}:".encode()).decode()
    response = client.post(
        f"{ORG}/releases/",
        {"version": "2.0rc2", "projects": ["pump-station"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {credentials}",
    )
    assert response.status_code == 201
    assert client.get("/api/0/", HTTP_AUTHORIZATION="Basic !!!").json() == {"detail": "Malformed Basic credentials"}


# Authentication, scopes and tenancy ---------------------------------------------------------


def test_it_requires_a_token(client, db):
    response = client.get(f"{ORG}/releases/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_it_refuses_a_revoked_token(api, org):
    from releasetracker.services import token_revoke

    token_revoke(organization=org, token=api.token)
    response = api.get(f"{ORG}/releases/")
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


@pytest.mark.parametrize(
    "method,url",
    [
        ("get", "/api/0/organizations/globex/releases/"),
        ("post", "/api/0/organizations/globex/releases/"),
        ("get", "/api/0/organizations/globex/repos/"),
        ("get", "/api/0/organizations/globex/releases/web@1.0.0/"),
        ("put", "/api/0/organizations/globex/releases/web@1.0.0/"),
        ("post", "/api/0/organizations/globex/releases/web@1.0.0/deploys/"),
        ("get", "/api/0/projects/globex/web/releases/"),
        ("put", "/api/0/projects/globex/web/releases/web@1.0.0/"),
    ],
)
def test_it_answers_403_when_the_url_names_another_organization(api, other_org, release, method, url):
    response = getattr(api, method)(url, {"version": "x", "environment": "production"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "You do not have permission to perform this action."}
    assert Release.objects.count() == 1


def test_a_read_token_cannot_create_releases(read_api, org):
    response = post(read_api, f"{ORG}/releases/", {"version": "1.0", "projects": ["web"]})
    assert response.status_code == 403
    assert not Release.objects.exists()


def test_another_organizations_release_is_a_404(api, other_org):
    ReleaseFactory(organization=other_org, version="secret@1")
    response = api.get(f"{ORG}/releases/secret@1/")
    assert response.status_code == 404
    assert response.json() == {"detail": "The requested resource does not exist"}


def test_an_unknown_route_under_api_0_is_a_json_404(api):
    response = api.get("/api/0/projects/acme//releases/")
    assert response.status_code == 404
    assert response.json() == {"detail": "The requested resource does not exist"}


def test_an_unsupported_method_is_a_json_405(api, release):
    response = api.delete(f"{ORG}/releases/web@1.0.0/")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "DELETE" not allowed.'}
    assert Release.objects.filter(pk=release.pk).exists()


# Creating releases --------------------------------------------------------------------------


def test_create_answers_201_with_a_sentry_release(api, org):
    response = post(
        api,
        f"{ORG}/releases/",
        {
            "version": "2.0rc2",
            "ref": "6ba09a7c53235ee8a8fa5ee4c1ca8ca886e7fdbb",
            "projects": ["pump-station"],
            "dateStarted": "2025-11-20T04:09:15.671029106Z",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["version"] == "2.0rc2"
    assert body["shortVersion"] == "2.0rc2"
    assert body["ref"] == "6ba09a7c53235ee8a8fa5ee4c1ca8ca886e7fdbb"
    assert body["url"] is None and body["dateReleased"] is None
    assert body["newGroups"] == 0 and body["lastCommit"] is None and body["authors"] == []
    assert body["commitCount"] == 0 and body["deployCount"] == 0 and body["lastDeploy"] is None
    assert body["data"] == {} and body["owner"] is None
    assert body["projects"][0]["slug"] == "pump-station"
    assert body["projects"][0]["name"] == "pump-station"
    assert_sentry_date(body["dateCreated"])
    stored = Release.objects.get(organization=org, version="2.0rc2")
    assert stored.source == Source.SENTRY
    assert "ci-write" in stored.created_by
    assert [p.name for p in stored.projects.all()] == ["pump-station"]


def test_create_of_an_existing_version_answers_208_and_adds_new_projects(api, org):
    post(api, f"{ORG}/releases/", {"version": "1.0", "projects": ["web"], "url": "https://a.example"})
    response = post(api, f"{ORG}/releases/", {"version": "1.0", "projects": ["api"], "url": "https://b.example"})
    assert response.status_code == 208
    assert sorted(p["slug"] for p in response.json()["projects"]) == ["api", "web"]
    release = Release.objects.get(organization=org, version="1.0")
    # As in Sentry, a repeat only adds projects (and commits): it does not rewrite the release.
    assert release.url == "https://a.example"
    assert Release.objects.count() == 1


def test_create_with_a_final_date_and_url_stores_them(api, org):
    response = post(
        api,
        f"{ORG}/releases/",
        {"version": "1.0", "projects": ["web"], "url": "https://ci.example/1", "dateReleased": "2025-11-21T10:00:00Z"},
    )
    assert response.status_code == 201
    assert response.json()["dateReleased"] == "2025-11-21T10:00:00Z"
    release = Release.objects.get(organization=org, version="1.0")
    assert release.date_released == datetime(2025, 11, 21, 10, tzinfo=UTC)
    assert release.url == "https://ci.example/1"


def test_create_in_a_project_route_puts_the_release_in_that_project(api, org):
    response = post(api, "/api/0/projects/acme/web/releases/", {"version": "1.0", "projects": ["web"]})
    assert response.status_code == 201
    assert [p["slug"] for p in response.json()["projects"]] == ["web"]
    response = post(api, "/api/0/projects/acme/api/releases/", {"version": "1.0"})
    assert response.status_code == 208
    assert sorted(p.name for p in Release.objects.get(version="1.0").projects.all()) == ["api", "web"]


def test_create_with_commits_and_refs_stores_them(api, org, repo):
    response = post(
        api,
        f"{ORG}/releases/",
        {
            "version": "1.0",
            "projects": ["web"],
            "refs": [{"repository": "acme/web", "commit": HEAD, "previousCommit": PREV}],
            "commits": [
                {
                    "id": HEAD,
                    "repository": "acme/web",
                    "message": "Fix the thing",
                    "author_name": "Dana",
                    "author_email": "dana@example.com",
                    "timestamp": "2025-11-20T08:00:00Z",
                }
            ],
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["commitCount"] == 1
    assert body["lastCommit"]["id"] == HEAD
    assert body["authors"] == [{"name": "Dana", "email": "dana@example.com"}]
    ref = ReleaseRef.objects.get(release__version="1.0")
    assert (ref.repository, ref.commit, ref.previous_commit) == (repo, HEAD, PREV)


@pytest.mark.parametrize(
    "payload,detail",
    [
        ({}, "version: this field is required"),
        ({"version": ""}, "version: this field is required"),
        ({"version": 12}, "version: must be a string"),
        ({"version": "latest"}, "version: 'latest' is not allowed"),
        ({"version": "web/1.0"}, "version: 'web/1.0' is not allowed"),
        ({"version": "1.0", "projects": "web"}, "projects: must be a list"),
        ({"version": "1.0", "projects": [3]}, "projects.0: must be a string"),
        ({"version": "1.0", "dateReleased": "yesterday"}, "dateReleased: 'yesterday' is not an ISO 8601 date-time"),
        ({"version": "1.0", "dateReleased": "2025-11-21T10:00:00"}, "dateReleased: must carry a timezone"),
        ({"version": "1.0", "commits": [{"id": "xyz"}]}, "commits.0.id: 'xyz' is not a commit sha"),
        ({"version": "1.0", "commits": ["abc"]}, "commits.0: must be an object"),
        ({"version": "1.0", "refs": [{"commit": HEAD}]}, "refs.0.repository: must be the name of a repository"),
    ],
)
def test_create_refuses_bad_input_with_a_detail_naming_the_field(api, org, payload, detail):
    response = post(api, f"{ORG}/releases/", payload)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)
    assert not Release.objects.exists()


def test_create_refuses_a_ref_to_an_unregistered_repository(api, org):
    response = post(api, f"{ORG}/releases/", {"version": "1.0", "refs": [{"repository": "acme/nope", "commit": HEAD}]})
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid repository names: acme/nope"}
    assert not Release.objects.exists()
    assert not Repository.objects.exists()


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"'])
def test_create_refuses_a_body_that_is_not_a_json_object(api, org, raw):
    response = api.generic("POST", f"{ORG}/releases/", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Malformed request body")


# Reading releases ---------------------------------------------------------------------------


def test_list_is_a_bare_array_newest_first_with_a_link_header(api, org):
    for version in ("1.0", "1.1", "1.2"):
        post(api, f"{ORG}/releases/", {"version": version, "projects": ["web"]})
    response = api.get(f"{ORG}/releases/")
    assert response.status_code == 200
    assert [r["version"] for r in response.json()] == ["1.2", "1.1", "1.0"]
    assert 'rel="next"; results="false"' in response["Link"]


def test_list_pages_with_sentry_cursors(api, org):
    for version in ("1.0", "1.1", "1.2"):
        post(api, f"{ORG}/releases/", {"version": version})
    first = api.get(f"{ORG}/releases/?per_page=2")
    assert [r["version"] for r in first.json()] == ["1.2", "1.1"]
    assert 'rel="next"; results="true"; cursor="0:2:0"' in first["Link"]
    second = api.get(f"{ORG}/releases/?per_page=2&cursor=0:2:0")
    assert [r["version"] for r in second.json()] == ["1.0"]
    assert api.get(f"{ORG}/releases/?cursor=bogus").json() == {"detail": "Invalid cursor parameter."}
    assert api.get(f"{ORG}/releases/?per_page=1000").status_code == 400


def test_list_filters_by_version_query(api, org):
    post(api, f"{ORG}/releases/", {"version": "web@1.0"})
    post(api, f"{ORG}/releases/", {"version": "api@1.0"})
    assert [r["version"] for r in api.get(f"{ORG}/releases/?query=web").json()] == ["web@1.0"]


def test_project_list_shows_only_that_projects_releases(api, org):
    post(api, f"{ORG}/releases/", {"version": "web@1", "projects": ["web"]})
    post(api, f"{ORG}/releases/", {"version": "api@1", "projects": ["api"]})
    response = api.get("/api/0/projects/acme/web/releases/")
    assert [r["version"] for r in response.json()] == ["web@1"]


def test_project_routes_answer_404_for_an_unknown_project(api, release):
    assert api.get("/api/0/projects/acme/nope/releases/").status_code == 404
    assert api.get("/api/0/projects/acme/nope/releases/web@1.0.0/").json() == {
        "detail": "The requested resource does not exist"
    }


def test_project_detail_is_a_404_for_a_release_of_another_project(api, release):
    ProjectFactory(organization=release.organization, name="api")
    assert api.get("/api/0/projects/acme/web/releases/web@1.0.0/").status_code == 200
    assert api.get("/api/0/projects/acme/api/releases/web@1.0.0/").status_code == 404


def test_list_reads_a_page_in_a_constant_number_of_queries(api, org, repo, django_assert_max_num_queries):
    for index in range(15):
        post(
            api,
            f"{ORG}/releases/",
            {
                "version": f"1.{index}",
                "projects": ["web", "api"],
                "commits": [{"id": f"{index:07x}abc", "author_name": f"A{index}", "repository": "acme/web"}],
            },
        )
        post(api, f"{ORG}/releases/1.{index}/deploys/", {"environment": "production"})
    # Token lookup, releases, projects, refs, last deploys, head commits (two), authors, plus slack.
    with django_assert_max_num_queries(12):
        response = api.get(f"{ORG}/releases/")
    assert len(response.json()) == 15
    assert all(r["deployCount"] == 1 and r["lastDeploy"]["environment"] == "production" for r in response.json())


def test_detail_of_a_percent_encoded_version(api, org):
    post(api, f"{ORG}/releases/", {"version": "web@1.2.3+build 5", "projects": ["web"]})
    response = api.get(f"{ORG}/releases/web@1.2.3%2Bbuild%205/")
    assert response.status_code == 200
    assert response.json()["version"] == "web@1.2.3+build 5"
    assert response.json()["shortVersion"] == "1.2.3+build 5"


def test_detail_of_an_unknown_version_is_a_404(api, org):
    response = api.get(f"{ORG}/releases/nope/")
    assert response.status_code == 404
    assert response.json() == {"detail": "The requested resource does not exist"}


def test_a_sentry_release_shows_up_in_the_native_api(api, org):
    post(api, f"{ORG}/releases/", {"version": "1.0", "projects": ["web"]})
    native = api.get("/api/v1/releases/").json()
    rows = native["results"] if isinstance(native, dict) else native
    assert [(r["version"], r["source"], r["projects"]) for r in rows] == [("1.0", "sentry", ["web"])]


# Updating: finalize, set-commits ------------------------------------------------------------


def test_finalize_sets_the_release_date_and_url(api, release):
    response = put(
        api,
        f"{ORG}/releases/web@1.0.0/",
        {"projects": ["web"], "url": "https://ci.example/9", "dateReleased": "2025-11-22T04:09:15.671029106Z"},
    )
    assert response.status_code == 200
    assert response.json()["dateReleased"] == "2025-11-22T04:09:15.671029Z"
    assert response.json()["url"] == "https://ci.example/9"
    release.refresh_from_db()
    assert release.date_released == datetime(2025, 11, 22, 4, 9, 15, 671029, tzinfo=UTC)
    assert release.url == "https://ci.example/9"


def test_update_through_a_project_route(api, release):
    response = put(api, "/api/0/projects/acme/web/releases/web@1.0.0/", {"dateReleased": "2025-11-21T00:00:00Z"})
    assert response.status_code == 200
    release.refresh_from_db()
    assert release.date_released == datetime(2025, 11, 21, tzinfo=UTC)


def test_update_of_an_unknown_version_is_a_404(api, org):
    assert put(api, f"{ORG}/releases/nope/", {"dateReleased": "2025-11-21T00:00:00Z"}).status_code == 404


# Archive and restore (Sentry's release status) -------------------------------------------------


def test_archiving_hides_a_release_from_the_lists_but_not_from_its_detail(api, release):
    response = put(api, f"{ORG}/releases/web@1.0.0/", {"status": "archived"})

    assert response.status_code == 200 and response.json()["status"] == "archived"
    assert api.get(f"{ORG}/releases/web@1.0.0/").json()["status"] == "archived"
    # As Sentry: the organization's list shows open releases unless ``status`` says otherwise,
    # the project's list only open ones.
    assert api.get(f"{ORG}/releases/").json() == []
    assert [r["version"] for r in api.get(f"{ORG}/releases/?status=archived").json()] == ["web@1.0.0"]
    assert [r["version"] for r in api.get(f"{ORG}/releases/?status=").json()] == ["web@1.0.0"]
    assert api.get("/api/0/projects/acme/web/releases/?status=archived").json() == []


def test_restoring_shows_the_release_again(api, release):
    put(api, f"{ORG}/releases/web@1.0.0/", {"status": "archived"})

    response = put(api, "/api/0/projects/acme/web/releases/web@1.0.0/", {"status": "open"})

    assert response.json()["status"] == "open"
    assert [r["version"] for r in api.get(f"{ORG}/releases/").json()] == ["web@1.0.0"]
    assert api.get(f"{ORG}/releases/?status=archived").json() == []


def test_the_create_archives_and_restores_an_existing_version_as_sentry_cli_asks(api, release):
    # ``sentry-cli releases archive V`` and ``restore V`` send this create, not a PUT.
    archived = post(api, f"{ORG}/releases/", {"version": "web@1.0.0", "projects": [], "status": "archived"})
    assert archived.status_code == 208 and archived.json()["status"] == "archived"
    release.refresh_from_db()
    assert release.archived_at is not None

    restored = post(api, f"{ORG}/releases/", {"version": "web@1.0.0", "projects": [], "status": "open"})
    assert restored.status_code == 208 and restored.json()["status"] == "open"
    release.refresh_from_db()
    assert release.archived_at is None


def test_a_new_version_can_be_created_archived(api, org):
    response = post(api, f"{ORG}/releases/", {"version": "2.0", "projects": ["web"], "status": "archived"})

    assert response.status_code == 201 and response.json()["status"] == "archived"
    assert Release.objects.get(version="2.0").archived_at is not None


@pytest.mark.parametrize("value", ["closed", "", 1, ["archived"]])
def test_an_unknown_status_is_refused_and_changes_nothing(api, release, value):
    response = put(api, f"{ORG}/releases/web@1.0.0/", {"status": value, "url": "https://ci.example/1"})

    assert response.status_code == 400
    assert response.json() == {"detail": "status: must be 'open' or 'archived'"}
    release.refresh_from_db()
    assert (release.archived_at, release.url) == (None, "")


def test_the_list_refuses_an_unknown_status(api, release):
    response = api.get(f"{ORG}/releases/?status=deleted")

    assert response.status_code == 400
    assert response.json() == {"detail": "status: must be 'open' or 'archived'"}


def test_set_commits_refs_record_head_and_previous_commit(api, release, repo):
    response = put(
        api,
        f"{ORG}/releases/web@1.0.0/",
        {"refs": [{"repository": "acme/web", "commit": HEAD.upper(), "previousCommit": PREV}]},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["lastCommit"]["id"] == HEAD
    assert body["commitCount"] == 1
    ref = release.refs.get()
    assert (ref.repository, ref.commit, ref.previous_commit) == (repo, HEAD, PREV)
    # The head commit belongs to the release, so lead time has a commit to measure.
    assert [c.sha for c in release.commits.all()] == [HEAD]
    assert release.commits.get().repository == repo


def test_set_commits_to_an_unknown_repository_stores_nothing(api, release, repo):
    response = put(
        api,
        f"{ORG}/releases/web@1.0.0/",
        {"url": "https://changed.example", "refs": [{"repository": "acme/nope", "commit": HEAD}]},
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid repository names: acme/nope"}
    release.refresh_from_db()
    assert release.url == ""
    assert not release.refs.exists() and not Commit.objects.exists()


def test_local_commits_are_stored_with_authors_and_timestamps(api, release, repo):
    commits = [
        {
            "patch_set": [{"path": "f", "type": "M"}],
            "repository": "origin",
            "author_name": "Dana Dev",
            "author_email": "dana@example.com",
            "timestamp": "2025-11-20T06:14:56.123456789Z",
            "message": "change 2\n",
            "id": HEAD,
        },
        {
            "repository": "acme/web",
            "author_name": "Eve",
            "author_email": "eve@example.com",
            "timestamp": "2025-11-19T06:00:00+02:00",
            "message": "change 1",
            "id": PREV,
        },
    ]
    response = put(api, f"{ORG}/releases/web@1.0.0/", {"commits": commits})
    assert response.status_code == 200
    assert response.json()["lastCommit"]["id"] == HEAD
    newest, oldest = Commit.objects.get(sha=HEAD), Commit.objects.get(sha=PREV)
    assert (newest.author_name, newest.author_email, newest.message) == ("Dana Dev", "dana@example.com", "change 2")
    assert newest.timestamp == datetime(2025, 11, 20, 6, 14, 56, 123456, tzinfo=UTC)
    assert oldest.timestamp == datetime(2025, 11, 19, 4, tzinfo=UTC)
    # "origin" is the git remote's name, not a repository: nothing named so is created.
    assert newest.repository is None and oldest.repository == repo
    assert list(Repository.objects.values_list("name", flat=True)) == ["acme/web"]

    listed = api.get(f"{ORG}/releases/web@1.0.0/commits/").json()
    assert [c["id"] for c in listed] == [HEAD, PREV]
    assert listed[0]["author"] == {"name": "Dana Dev", "email": "dana@example.com"}
    assert listed[0]["dateCreated"] == "2025-11-20T06:14:56.123456Z"
    assert listed[1]["repository"]["name"] == "acme/web"


@pytest.mark.parametrize("key", ["refs", "commits"])
def test_clearing_commits_is_refused_rather_than_pretended(api, release, key):
    put(api, f"{ORG}/releases/web@1.0.0/", {"commits": [{"id": HEAD}]})
    response = put(api, f"{ORG}/releases/web@1.0.0/", {key: []})
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{key}: clearing a release's commits is not supported")
    assert [c.sha for c in release.commits.all()] == [HEAD]


def test_commits_of_an_unknown_version_is_a_404(api, org):
    assert api.get(f"{ORG}/releases/nope/commits/").status_code == 404


def test_previous_with_commits_is_empty_without_an_earlier_release(api, release):
    response = api.get(f"{ORG}/releases/web@1.0.0/previous-with-commits/")
    assert response.status_code == 200
    assert response.json() == {}


def test_previous_with_commits_is_the_newest_earlier_release_of_the_project_with_commits(api, org, repo):
    post(api, f"{ORG}/releases/", {"version": "1", "projects": ["web"], "commits": [{"id": PREV}]})
    post(api, f"{ORG}/releases/", {"version": "2", "projects": ["web"], "commits": [{"id": HEAD}]})
    post(api, f"{ORG}/releases/", {"version": "other", "projects": ["api"], "commits": [{"id": "abcdef1"}]})
    post(api, f"{ORG}/releases/", {"version": "3", "projects": ["web"]})
    body = api.get(f"{ORG}/releases/3/previous-with-commits/").json()
    assert body["version"] == "2"
    assert body["lastCommit"]["id"] == HEAD


# Deploys ------------------------------------------------------------------------------------


def test_deploy_create_answers_201_and_records_a_deployment(api, release):
    response = post(
        api,
        f"{ORG}/releases/web@1.0.0/deploys/",
        {
            "environment": "production",
            "name": "deploy one",
            "url": "https://ci.example/d/1",
            "dateStarted": "2025-11-21T10:00:00.000000001Z",
            "dateFinished": "2025-11-21T10:01:30Z",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "environment": "production",
        "name": "deploy one",
        "url": "https://ci.example/d/1",
        "dateStarted": "2025-11-21T10:00:00Z",
        "dateFinished": "2025-11-21T10:01:30Z",
    }
    deployment = Deployment.objects.get()
    assert body["id"] == str(sentry_id(deployment.public_id))
    assert deployment.release == release
    assert deployment.environment.name == "production" and deployment.environment.is_production
    assert deployment.status == DeploymentStatus.SUCCESS
    assert deployment.source == Source.SENTRY
    assert deployment.title == "deploy one"
    assert deployment.duration_seconds == 90
    assert deployment.project.name == "web"


def test_deploy_without_end_time_finished_now(api, release):
    before = timezone.now()
    body = post(api, f"{ORG}/releases/web@1.0.0/deploys/", {"environment": "staging"}).json()
    assert body["name"] is None and body["dateStarted"] is None
    assert datetime.fromisoformat(body["dateFinished"]) >= before - timedelta(seconds=1)


@pytest.mark.parametrize(
    "payload,detail",
    [
        ({}, "environment: this field is required"),
        ({"environment": 5}, "environment: must be a string"),
        ({"environment": "prod", "dateFinished": "soon"}, "dateFinished: 'soon' is not an ISO 8601 date-time"),
        (
            {"environment": "prod", "dateStarted": "2025-11-21T10:00:00Z", "dateFinished": "2025-11-21T09:00:00Z"},
            "finished_at: must not be before started_at",
        ),
    ],
)
def test_deploy_create_refuses_bad_input(api, release, payload, detail):
    response = post(api, f"{ORG}/releases/web@1.0.0/deploys/", payload)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)
    assert not Deployment.objects.exists()


def test_deploy_of_an_unknown_version_is_a_404(api, org):
    response = post(api, f"{ORG}/releases/nope/deploys/", {"environment": "production"})
    assert response.status_code == 404
    assert not Deployment.objects.exists()


def test_deploy_list_has_a_finish_date_on_every_deploy(api, release):
    post(api, f"{ORG}/releases/web@1.0.0/deploys/", {"environment": "production", "name": "one"})
    # One still running, recorded natively: Sentry clients need dateFinished anyway.
    DeploymentFactory(
        organization=release.organization, release=release, status=DeploymentStatus.IN_PROGRESS, finished_at=None
    )
    response = api.get(f"{ORG}/releases/web@1.0.0/deploys/")
    assert response.status_code == 200
    assert len(response.json()) == 2
    for deploy in response.json():
        assert_sentry_date(deploy["dateFinished"])


# Repositories -------------------------------------------------------------------------------


def test_repos_lists_the_organizations_repositories(api, repo, other_org):
    RepositoryFactory(organization=other_org, name="globex/secret")
    response = api.get(f"{ORG}/repos/?cursor=")
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": str(sentry_id(repo.public_id)),
            "name": "acme/web",
            "url": "https://github.com/acme/web",
            "provider": {"id": "integrations:github", "name": "GitHub"},
            "status": "active",
            "dateCreated": response.json()[0]["dateCreated"],
            "integrationId": None,
            "externalSlug": None,
        }
    ]
    assert_sentry_date(response.json()[0]["dateCreated"])


def test_a_repository_without_provider_is_sentrys_unknown_provider(api, org):
    RepositoryFactory(organization=org, name="acme/tools", provider="")
    assert api.get(f"{ORG}/repos/").json()[0]["provider"] == {"id": "unknown", "name": "Unknown Provider"}


def test_a_repository_without_a_url_is_sentrys_unknown_provider_whatever_its_provider(api, org):
    # sentry-cli's --auto stops for every repository when one with a provider has no URL.
    RepositoryFactory(organization=org, name="acme/tools", url="", provider="vsts")
    repository = api.get(f"{ORG}/repos/").json()[0]
    assert (repository["provider"], repository["url"]) == ({"id": "unknown", "name": "Unknown Provider"}, None)


def test_a_repository_first_seen_in_commits_becomes_a_github_one_once_registered(api, org):
    post(api, f"{ORG}/releases/", {"version": "1.0", "commits": [{"id": HEAD, "repository": "acme/web"}]})
    assert api.get(f"{ORG}/repos/").json()[0]["provider"]["id"] == "unknown"

    registered = api.post("/api/v1/repositories/", {"name": "acme/web", "provider": "github"}, format="json")

    assert registered.status_code == 303
    repository = api.get(f"{ORG}/repos/").json()[0]
    assert (repository["provider"]["id"], repository["url"]) == ("integrations:github", "https://github.com/acme/web")


# Artifacts: not stored here, and said so ------------------------------------------------------

ARTIFACT_ROUTES = [
    ("get", f"{ORG}/chunk-upload/"),
    ("post", f"{ORG}/chunk-upload/"),
    ("post", f"{ORG}/artifactbundle/assemble/"),
    ("post", f"{ORG}/releases/web@1.0.0/assemble/"),
    ("get", f"{ORG}/releases/web@1.0.0/files/"),
    ("post", f"{ORG}/releases/web@1.0.0/files/"),
    ("delete", f"{ORG}/releases/web@1.0.0/files/17/"),
    ("get", "/api/0/projects/acme/web/releases/web@1.0.0/files/?cursor="),
    ("post", "/api/0/projects/acme/web/files/dsyms/"),
    ("get", "/api/0/projects/acme/web/files/dsyms/unknown/?checksums=abc"),
    ("post", "/api/0/projects/acme/web/files/difs/assemble/"),
]


@pytest.mark.parametrize(("method", "url"), ARTIFACT_ROUTES)
def test_artifact_routes_say_this_server_does_not_store_artifacts(api, release, method, url):
    response = getattr(api, method)(url, {}, format="json")

    # Not a 404: sentry-cli reads that as "organization not found" or "Release not found".
    assert response.status_code == 400
    assert "does not store artifacts (source maps, debug files, release files)" in response.json()["detail"]


def test_after_a_refused_upload_the_clients_next_finalize_is_refused_once(api, release, read_api):
    api.get(f"{ORG}/chunk-upload/")

    # Other writes go on: getsentry/action-release records its deploy between upload and finalize.
    assert post(api, f"{ORG}/releases/web@1.0.0/deploys/", {"environment": "production"}).status_code == 201
    refused = put(api, f"{ORG}/releases/web@1.0.0/", {"dateReleased": "2025-11-21T00:00:00Z"})

    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("Not finalized: an artifact upload from this client was refused at ")
    release.refresh_from_db()
    assert release.date_released is None
    again = put(api, f"{ORG}/releases/web@1.0.0/", {"dateReleased": "2025-11-21T00:00:00Z"})
    assert again.status_code == 200 and again.json()["dateReleased"] == "2025-11-21T00:00:00Z"


def test_a_refused_upload_holds_back_only_its_own_clients_finalize(api, release, other_api):
    other_api.get("/api/0/organizations/globex/chunk-upload/")  # another organization's token
    second = post(api, "/api/v1/projects/", {"name": "spare"})  # a write that is no finalize
    assert second.status_code == 201

    assert put(api, f"{ORG}/releases/web@1.0.0/", {"dateReleased": "2025-11-21T00:00:00Z"}).status_code == 200


def test_artifact_routes_check_the_token_and_the_organization_first(client, api, other_org):
    assert client.get(f"{ORG}/chunk-upload/").status_code == 401
    assert api.get("/api/0/organizations/globex/chunk-upload/").json() == {
        "detail": "You do not have permission to perform this action."
    }


# The domain: a Sentry flow counts in the DORA metrics -----------------------------------------


def test_a_sentry_release_and_production_deploy_count_in_the_dora_metrics(api, org):
    now = timezone.now().replace(microsecond=0)
    committed, deployed = now - timedelta(hours=3), now - timedelta(hours=1)
    post(api, f"{ORG}/releases/", {"version": "1.0", "projects": ["web"]})
    put(
        api,
        f"{ORG}/releases/1.0/",
        {"commits": [{"id": HEAD, "author_name": "Dana", "timestamp": committed.isoformat().replace("+00:00", "Z")}]},
    )
    post(
        api,
        f"{ORG}/releases/1.0/deploys/",
        {"environment": "production", "dateFinished": deployed.isoformat().replace("+00:00", "Z")},
    )
    metrics = api.get("/api/v1/metrics/dora/").json()
    assert metrics["deployment_frequency"]["count"] == 1
    assert metrics["lead_time"]["commits"] == 1
    assert metrics["lead_time"]["median_seconds"] == 7200


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "//evil.example"])
def test_a_release_or_deploy_url_that_is_not_a_web_address_is_refused_as_the_native_api_refuses_it(api, org, url):
    created = post(api, f"{ORG}/releases/", {"version": "1.0.0", "projects": ["web"], "url": url})
    assert created.status_code == 400
    assert created.json() == {
        "detail": "url: must be an http or https URL, for example https://ci.example.com/builds/1"
    }
    assert not Release.objects.exists()

    assert post(api, f"{ORG}/releases/", {"version": "1.0.0", "projects": ["web"]}).status_code == 201
    assert put(api, f"{ORG}/releases/1.0.0/", {"url": url}).status_code == 400
    assert post(api, f"{ORG}/releases/1.0.0/deploys/", {"environment": "production", "url": url}).status_code == 400
    assert Release.objects.get().url == ""
    assert not Deployment.objects.exists()


def test_a_ci_host_without_a_dot_is_still_a_url_sentry_clients_may_send(api, org):
    url = "http://jenkins:8080/job/web/42/"
    response = post(api, f"{ORG}/releases/", {"version": "1.0.0", "projects": ["web"], "url": url})

    assert (response.status_code, response.json()["url"]) == (201, url)


def test_ids_reveal_nothing_of_another_organizations_activity(api, other_api, org, other_org):
    # Our primary keys are shared by all organizations: as ids, the gap between acme's two
    # releases would count globex's releases and deploys made in between.
    first = post(api, f"{ORG}/releases/", {"version": "1.0.0", "projects": ["web"]}).json()
    for n in range(3):
        post(other_api, "/api/0/organizations/globex/releases/", {"version": f"9.{n}", "projects": ["shop"]})
        post(other_api, f"/api/0/organizations/globex/releases/9.{n}/deploys/", {"environment": "production"})
    second = post(api, f"{ORG}/releases/", {"version": "1.1.0", "projects": ["web"]}).json()
    deploy = post(api, f"{ORG}/releases/1.1.0/deploys/", {"environment": "production"}).json()

    keys = set(Release.objects.values_list("pk", flat=True)) | set(Deployment.objects.values_list("pk", flat=True))
    assert {first["id"], second["id"], int(deploy["id"])}.isdisjoint(keys)
    assert abs(second["id"] - first["id"]) > 1_000_000
    # Stable: every read answers the id the create answered, in Sentry's types.
    assert api.get(f"{ORG}/releases/1.0.0/").json()["id"] == first["id"]
    assert api.get(f"{ORG}/releases/1.1.0/deploys/").json()[0]["id"] == deploy["id"]
    assert isinstance(first["id"], int) and 0 <= first["id"] < 2**53
    assert first["projects"][0]["id"] == second["projects"][0]["id"]
