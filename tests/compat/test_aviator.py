"""Aviator's Releases REST API at /api/releases/ (seeds/aviator-releases-api.md)."""

import json

import pytest
from django.core.cache import caches
from django.test import Client

from deployments.models import Deployment
from releases.models import Release, ReleaseRef, Repository
from releases.services import release_create, release_workflow_run_set
from tests.compat import comparable, metric_counts, only_result
from tests.factories import EnvironmentFactory, RepositoryFactory, issue_token
from tests.webhooks.test_webhooks import Receiver
from webhooks.services import deliver_due

pytestmark = pytest.mark.django_db

SHA = "0123456789abcdef0123456789abcdef01234567"
SHA2 = "fedcba9876543210fedcba9876543210fedcba98"
BASE = "/api/releases/checkout"


def send(client, method: str, path: str, payload=None):
    body = "" if payload is None else payload if isinstance(payload, str) else json.dumps(payload)
    return getattr(client, method)(path, body, content_type="application/json")


def create_rc(client, version="1.4.0-rc2", commit=SHA, repo="acme/checkout", **extra):
    return send(client, "post", f"{BASE}/releases/{version}", {"repo": repo, "commit": commit, **extra})


@pytest.fixture
def envs(org):
    return EnvironmentFactory(organization=org, name="production"), EnvironmentFactory(organization=org, name="staging")


# Create a Release -----------------------------------------------------------------------------


def test_creating_a_release_candidate_records_a_release_of_the_project(api, org):
    response = create_rc(api, trigger_build_workflow=False)

    assert response.status_code == 201
    assert response.json()["release_candidate_version"] == "1.4.0-rc2"
    # Unique per project: stored under the project's name, named as Aviator calls it.
    release = Release.objects.get(organization=org, version="checkout@1.4.0-rc2")
    assert (release.name, release.source) == ("1.4.0-rc2", "aviator")
    assert list(release.projects.values_list("name", flat=True)) == ["checkout"]
    assert [rc.commit.sha for rc in release.release_commits.all()] == [SHA]
    ref = ReleaseRef.objects.get(release=release)
    assert (ref.repository.name, ref.commit) == ("acme/checkout", SHA)


def test_the_same_request_again_is_not_a_second_release(api, org):
    create_rc(api)
    again = create_rc(api)

    assert again.status_code == 200
    assert Release.objects.filter(organization=org).count() == 1


def test_the_same_candidate_at_another_commit_is_a_409(api):
    create_rc(api)
    response = create_rc(api, commit=SHA2)

    assert response.status_code == 409
    assert "1.4.0-rc2" in response.json()["error"]


def test_two_projects_release_candidates_of_the_same_version_coexist(api, envs):
    """Aviator's candidates are unique per project: billing's 1.4.0-rc2 is not checkout's."""
    checkout = create_rc(api)
    billing = send(api, "post", "/api/releases/billing/releases/1.4.0-rc2", {"repo": "acme/checkout", "commit": SHA2})

    assert (checkout.status_code, billing.status_code) == (201, 201)
    assert billing.json()["release_candidate_version"] == "1.4.0-rc2"
    assert create_rc(api).status_code == 200
    assert create_rc(api, commit=SHA2).status_code == 409
    native = api.get("/api/v1/releases/").json()["results"]
    assert sorted((r["version"], r["name"], r["projects"]) for r in native) == [
        ("billing@1.4.0-rc2", "1.4.0-rc2", ["billing"]),
        ("checkout@1.4.0-rc2", "1.4.0-rc2", ["checkout"]),
    ]
    for project, sha in [("billing", SHA2), ("checkout", SHA)]:
        path = f"/api/releases/{project}/environments/production/deployments"
        deployed = send(api, "post", path, {"release_candidate_version": "1.4.0-rc2"}).json()
        assert (deployed["project"], deployed["release_candidate_version"]) == (project, "1.4.0-rc2")
        native = api.get(f"/api/v1/deployments/{deployed['id']}/").json()
        assert native["release"] == f"{project}@1.4.0-rc2"
        release = api.get(f"/api/v1/releases/{native['release_id']}/").json()
        assert [c["sha"] for c in release["commits"]] == [sha]


@pytest.mark.parametrize("version", ["1.4.0", "1.4.0-rc", "1.4.0-rcX", "1.4.0-beta1", "-rc1x"])
def test_a_version_without_an_rc_suffix_is_refused(api, version):
    response = create_rc(api, version=version)

    assert response.status_code == 400
    assert response.json() == {"error": "Invalid release candidate version"}


@pytest.mark.parametrize("commit", ["xyz", "abc12", "g" * 40, 1234567, None, "a" * 65])
def test_a_bad_commit_hash_is_refused(api, commit):
    response = create_rc(api, commit=commit)

    assert response.status_code == 400
    assert response.json() == {"error": "Invalid commit hash"}
    assert not Release.objects.exists()


def test_an_unregistered_repository_is_404_when_the_organization_registered_some(api, org):
    RepositoryFactory(organization=org, name="acme/api")

    response = create_rc(api, repo="acme/unknown")

    assert response.status_code == 404
    assert response.json() == {"error": "GitHub repository not found"}
    assert create_rc(api, repo="acme/api").status_code == 201


def test_a_repository_is_registered_on_first_use_when_none_are(api, org):
    assert create_rc(api, repo="acme/new").status_code == 201
    assert Repository.objects.filter(organization=org, name="acme/new").exists()


def test_another_organizations_repository_does_not_count(api, other_org):
    RepositoryFactory(organization=other_org, name="globex/app")

    assert create_rc(api, repo="acme/checkout").status_code == 201


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"repo": "no-slash"}, "Invalid repo: expected org/repo_name"),
        ({"repo": None}, "Invalid repo: expected org/repo_name"),
        ({"trigger_build_workflow": "yes"}, "Invalid trigger_build_workflow: expected true or false"),
    ],
)
def test_other_bad_fields_are_400s_naming_them(api, extra, message):
    response = send(api, "post", f"{BASE}/releases/1.0-rc1", {"repo": "acme/checkout", "commit": SHA, **extra})

    assert response.status_code == 400
    assert response.json() == {"error": message}


# Create a Deployment --------------------------------------------------------------------------


def test_creating_a_deployment_records_it_pending(api, org, envs):
    create_rc(api)

    response = send(
        api, "post", f"{BASE}/environments/production/deployments", {"release_candidate_version": "1.4.0-rc2"}
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["environment"], body["project"], body["status"]) == ("production", "checkout", "pending")
    deployment = Deployment.objects.get(organization=org)
    assert (deployment.release.version, deployment.project.name, deployment.source) == (
        "checkout@1.4.0-rc2",
        "checkout",
        "aviator",
    )


def test_a_deployment_to_an_unknown_environment_is_404(api, envs):
    create_rc(api)

    for method in ("post", "patch"):
        response = send(
            api,
            method,
            f"{BASE}/environments/qa/deployments",
            {"release_candidate_version": "1.4.0-rc2", "status": "pending"},
        )
        assert response.status_code == 404
        assert response.json() == {"error": "Release environment not found"}
    assert api.get(f"{BASE}/environments/qa/deployments").json() == {"error": "Release environment not found"}


def test_a_deployment_of_an_unknown_release_is_404(api, envs):
    create_rc(api)

    for version, project in [("9.9.9-rc1", "checkout"), ("1.4.0-rc2", "billing")]:
        response = send(
            api,
            "post",
            f"/api/releases/{project}/environments/production/deployments",
            {"release_candidate_version": version},
        )
        assert response.status_code == 404
        assert response.json() == {"error": "Release not found"}


def test_another_organizations_release_is_not_found(api, other_api, envs, other_org):
    EnvironmentFactory(organization=other_org, name="production")
    create_rc(other_api)

    response = send(
        api, "post", f"{BASE}/environments/production/deployments", {"release_candidate_version": "1.4.0-rc2"}
    )

    assert response.status_code == 404
    assert response.json() == {"error": "Release not found"}


@pytest.mark.parametrize("method", ["post", "patch"])
def test_a_deployment_needs_an_rc_version(api, envs, method):
    response = send(
        api,
        method,
        f"{BASE}/environments/production/deployments",
        {"release_candidate_version": "1.4.0", "status": "pending"},
    )

    assert response.status_code == 400
    assert response.json() == {"error": "Invalid release candidate version"}


# Update Deployment status ---------------------------------------------------------------------


def test_patch_creates_a_missing_deployment_and_still_answers_200(api, org, envs):
    create_rc(api)

    response = send(
        api,
        "patch",
        f"{BASE}/environments/staging/deployments",
        {"release_candidate_version": "1.4.0-rc2", "status": "in_progress"},
    )

    assert response.status_code == 200
    deployment = Deployment.objects.get(organization=org)
    assert (deployment.environment.name, deployment.status) == ("staging", "in_progress")


def test_patch_moves_the_existing_deployment_through_its_statuses(api, org, envs):
    create_rc(api)
    path = f"{BASE}/environments/production/deployments"
    send(api, "post", path, {"release_candidate_version": "1.4.0-rc2"})

    for status in ["in_progress", "success"]:
        response = send(api, "patch", path, {"release_candidate_version": "1.4.0-rc2", "status": status})
        assert response.status_code == 200
        assert response.json()["status"] == status

    deployment = Deployment.objects.get(organization=org)
    assert list(deployment.status_changes.values_list("status", flat=True)) == ["pending", "in_progress", "success"]
    assert deployment.finished_at is not None


@pytest.mark.parametrize("status", ["pending", "in_progress", "failure", "canceling", "canceled", "unknown", "success"])
def test_every_documented_status_is_accepted(api, envs, status):
    create_rc(api)

    response = send(
        api,
        "patch",
        f"{BASE}/environments/production/deployments",
        {"release_candidate_version": "1.4.0-rc2", "status": status},
    )

    assert response.status_code == 200
    assert response.json()["status"] == status


@pytest.mark.parametrize(
    "body", [{"release_candidate_version": "1.4.0-rc2"}, {"release_candidate_version": "1.4.0-rc2", "status": "done"}]
)
def test_patch_needs_a_known_status(api, envs, body):
    create_rc(api)

    response = send(api, "patch", f"{BASE}/environments/production/deployments", body)

    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid status")


# List and rollback ----------------------------------------------------------------------------


def test_the_list_is_paginated_newest_first(api, envs):
    path = f"{BASE}/environments/production/deployments"
    for n in range(1, 4):
        create_rc(api, version=f"1.{n}.0-rc1")
        send(api, "post", path, {"release_candidate_version": f"1.{n}.0-rc1"})

    first = api.get(path, {"per_page": 2}).json()
    second = api.get(path, {"per_page": 2, "page": 2}).json()

    assert [d["release_candidate_version"] for d in first["deployments"]] == ["1.3.0-rc1", "1.2.0-rc1"]
    assert (first["total"], first["has_next"]) == (3, True)
    assert [d["release_candidate_version"] for d in second["deployments"]] == ["1.1.0-rc1"]
    assert second["has_next"] is False
    assert api.get(path, {"page": 9}).json()["deployments"] == []
    assert api.get(path, {"per_page": 500}).json()["per_page"] == 100


@pytest.mark.parametrize("query", [{"page": "0"}, {"page": "x"}, {"per_page": "-1"}])
def test_bad_pagination_is_a_400(api, envs, query):
    response = api.get(f"{BASE}/environments/production/deployments", query)

    assert response.status_code == 400


def test_the_list_is_readable_with_a_read_token(read_api, envs):
    assert read_api.get(f"{BASE}/environments/production/deployments").status_code == 200


def test_rollback_puts_back_the_previous_live_release(api, org, envs):
    path = f"{BASE}/environments/production/deployments"
    for version, commit in [("1.0.0-rc1", SHA), ("1.1.0-rc1", SHA2)]:
        create_rc(api, version=version, commit=commit)
        send(api, "patch", path, {"release_candidate_version": version, "status": "success"})

    response = send(api, "post", f"{BASE}/environments/production/rollback", None)

    assert response.status_code == 201
    body = response.json()
    assert (body["release_candidate_version"], body["is_rollback"], body["status"]) == ("1.0.0-rc1", True, "pending")
    assert Deployment.objects.filter(organization=org, is_rollback=True).count() == 1


def test_rollback_to_a_named_version(api, envs):
    create_rc(api, version="1.0.0-rc1")

    response = send(
        api,
        "post",
        f"{BASE}/environments/production/rollback",
        {"release_candidate_version": "1.0.0-rc1", "status": "success"},
    )

    assert response.status_code == 201
    assert response.json()["is_rollback"] is True


def test_rollback_with_nothing_to_go_back_to_is_404(api, envs):
    response = send(api, "post", f"{BASE}/environments/production/rollback", {})

    assert response.status_code == 404
    assert response.json() == {"error": "Release not found"}


# Auth and bad input ---------------------------------------------------------------------------


def test_it_needs_a_valid_token(client, org):
    assert create_rc(client).status_code == 401
    response = send(client, "post", f"{BASE}/releases/1.0-rc1", {"repo": "a/b", "commit": SHA})
    assert "error" in response.json()
    client.defaults["HTTP_AUTHORIZATION"] = "Bearer rt_wrong"
    assert create_rc(client).status_code == 401


def test_a_read_token_cannot_write(read_api):
    response = create_rc(read_api)

    assert response.status_code == 403
    assert response.json() == {"error": "Forbidden: this token lacks the 'write' scope"}


def test_it_needs_no_csrf_token(org):
    _, clear = issue_token(org, scopes=["write"])
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {clear}")

    assert create_rc(client).status_code == 201


@pytest.mark.parametrize("body", ["{oops", "[]", '"text"', '{"repo": "a\\u0000/b", "commit": "' + SHA + '"}'])
def test_malformed_bodies_are_400s(api, body):
    response = send(api, "post", f"{BASE}/releases/1.0-rc1", body)

    assert response.status_code == 400
    assert set(response.json()) == {"error"}


def test_a_nul_in_the_path_is_a_400(api):
    response = send(api, "post", "/api/releases/check%00out/releases/1.0-rc1", {"repo": "a/b", "commit": SHA})

    assert response.status_code == 400


def test_other_methods_are_405(api):
    assert api.delete(f"{BASE}/environments/production/deployments").status_code == 405


# Same as native -------------------------------------------------------------------------------


def test_an_aviator_deployment_shows_in_the_native_api_like_the_same_event_sent_natively(
    api, other_api, envs, other_org
):
    create_rc(api)
    path = f"{BASE}/environments/production/deployments"
    send(api, "post", path, {"release_candidate_version": "1.4.0-rc2"})
    send(api, "patch", path, {"release_candidate_version": "1.4.0-rc2", "status": "success"})

    EnvironmentFactory(organization=other_org, name="production")
    other_api.post(
        "/api/v1/releases/",
        {
            "version": "checkout@1.4.0-rc2",
            "name": "1.4.0-rc2",
            "projects": ["checkout"],
            "commits": [{"sha": SHA, "repository": "acme/checkout"}],
            "refs": [{"repository": "acme/checkout", "commit": SHA}],
        },
        format="json",
    )
    native = other_api.post(
        "/api/v1/deployments/",
        {"environment": "production", "release": "checkout@1.4.0-rc2", "project": "checkout", "status": "pending"},
        format="json",
    ).json()
    other_api.patch(f"/api/v1/deployments/{native['id']}/", {"status": "success"}, format="json")

    assert comparable(only_result(api, "/api/v1/releases/")) == comparable(only_result(other_api, "/api/v1/releases/"))
    drop = {"finished_at", "occurred_at"}
    ours = comparable(only_result(api, "/api/v1/deployments/"), drop=drop)
    assert ours == comparable(only_result(other_api, "/api/v1/deployments/"), drop=drop)
    assert ours["status_history"] == ["pending", "success"]
    assert metric_counts(api) == metric_counts(other_api)
    assert metric_counts(api)["deployment_frequency"] == {"count": 1}


def test_a_trailing_slash_is_tolerated(api):
    response = send(api, "post", f"{BASE}/releases/1.0-rc1/", {"repo": "acme/checkout", "commit": SHA})

    assert response.status_code == 201


# Aviator's GitHub Actions guide -----------------------------------------------------------------
# (aviator-co/gitbook-docs, releases-beta/how-to-guides/working-with-your-ci-cd/github-actions-workflow.md)
# A workflow that an outgoing webhook started reports its run as its first step:
# POST /api/v1/sync-build-github-action {"release_cut_id", "workflow_run_id"} and
# POST /api/v1/sync-deploy-github-action {"deployment_id", "workflow_run_id"}, with the bearer token.

BUILD_RUN, DEPLOY_RUN = "9876543210", "9876543299"


@pytest.fixture
def dispatcher(api, settings):
    """What starts the workflows: a real HTTP receiver of the release.build_requested and
    deployment.requested webhooks, configured through the API; ``dispatched()`` runs the webhook
    worker and returns the ``data`` of each request it then received."""
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True  # the receiver listens on 127.0.0.1
    with Receiver() as receiver:
        created = api.post(
            "/api/v1/webhooks/",
            {"url": receiver.url, "events": ["release.build_requested", "deployment.requested"]},
            format="json",
        )
        assert created.status_code == 201, created.content
        seen = 0

        def dispatched() -> list[dict]:
            nonlocal seen
            while deliver_due():
                pass
            new, seen = receiver.requests[seen:], len(receiver.requests)
            return [json.loads(request["body"]) for request in new]

        yield dispatched


def sync(client, kind: str, payload):
    return send(client, "post", f"/api/v1/sync-{kind}-github-action", payload)


@pytest.mark.parametrize("outcome", ["success", "failure"])
def test_the_guides_workflow_links_both_runs_and_the_deployment_counts_once_with_its_outcome(
    api, org, alice, envs, dispatcher, outcome
):
    path = f"{BASE}/environments/production/deployments"
    assert create_rc(api, version="3.1.0-rc1", trigger_build_workflow=True).status_code == 201
    [build] = dispatcher()
    assert build["event"] == "release.build_requested"
    assert (build["data"]["name"], build["data"]["project"]) == ("3.1.0-rc1", "checkout")

    # The build workflow's first step, with its inputs.aviator_release_cut_id.
    synced = sync(api, "build", {"release_cut_id": build["data"]["id"], "workflow_run_id": BUILD_RUN})
    assert synced.status_code == 200
    assert synced.json() == {"release_cut_id": build["data"]["id"], "workflow_run_id": BUILD_RUN}

    created = send(api, "post", path, {"release_candidate_version": "3.1.0-rc1"})
    assert created.status_code == 201
    [requested] = dispatcher()
    assert (requested["event"], requested["data"]["id"]) == ("deployment.requested", created.json()["id"])

    # The deploy workflow's first step, with its inputs.aviator_deployment_id: the run has started.
    synced = sync(api, "deploy", {"deployment_id": requested["data"]["id"], "workflow_run_id": DEPLOY_RUN})
    assert synced.status_code == 200
    assert synced.json() == {
        "deployment_id": requested["data"]["id"],
        "workflow_run_id": DEPLOY_RUN,
        "status": "in_progress",
    }

    # The workflow's last step reports the outcome.
    patched = send(api, "patch", path, {"release_candidate_version": "3.1.0-rc1", "status": outcome})
    assert (patched.status_code, patched.json()["status"]) == (200, outcome)
    assert dispatcher() == []  # a status report starts nothing

    native = api.get(f"/api/v1/deployments/{requested['data']['id']}/").json()
    assert [change["status"] for change in native["status_history"]] == ["pending", "in_progress", outcome]
    assert native["duration_seconds"] is not None  # from the run's start to its report
    succeeded = outcome == "success"
    assert metric_counts(api) == {
        "deployment_frequency": {"count": 1 if succeeded else 0},
        "lead_time": {"commits": 1 if succeeded else 0},
        "change_failure_rate": {"failed": 0 if succeeded else 1, "total": 1},
        "recovery_time": {"recovered": 0, "unrecovered": 0 if succeeded else 1},
        "rework_rate": {"rework": 0, "total": 1 if succeeded else 0},
    }

    # The release page links both runs in the candidate's repository.
    page = Client()
    page.force_login(alice)
    body = page.get(f"/orgs/{org.slug}/releases/{build['data']['id']}/").content.decode()
    for run in (BUILD_RUN, DEPLOY_RUN):
        assert f'href="https://github.com/acme/checkout/actions/runs/{run}"' in body


def test_a_run_without_a_known_repository_shows_its_id(api, org, alice, envs):
    release, _ = release_create(organization=org, version="2.0.0-rc1", projects=["checkout"])
    release_workflow_run_set(organization=org, release=release, workflow_run_id=BUILD_RUN)

    page = Client()
    page.force_login(alice)
    body = page.get(f"/orgs/{org.slug}/releases/{release.public_id}/").content.decode()

    assert f"GitHub Actions run <code>{BUILD_RUN}</code>" in body
    assert "/actions/runs/" not in body


def test_a_repository_with_its_own_url_links_runs_there(api, org, alice, envs):
    RepositoryFactory(organization=org, name="acme/checkout", url="https://github.example.com/acme/checkout")
    assert create_rc(api).status_code == 201
    release = Release.objects.get(organization=org)
    sync(api, "build", {"release_cut_id": str(release.public_id), "workflow_run_id": 42})

    page = Client()
    page.force_login(alice)
    body = page.get(f"/orgs/{org.slug}/releases/{release.public_id}/").content.decode()

    assert 'href="https://github.example.com/acme/checkout/actions/runs/42"' in body


def test_a_sync_again_reports_the_new_run_and_leaves_a_finished_deployment_as_it_is(api, org, envs):
    create_rc(api)
    path = f"{BASE}/environments/production/deployments"
    deployment_id = send(api, "patch", path, {"release_candidate_version": "1.4.0-rc2", "status": "success"}).json()[
        "id"
    ]

    for run in ("111", "222"):
        response = sync(api, "deploy", {"deployment_id": deployment_id, "workflow_run_id": run})
        assert (response.status_code, response.json()["status"]) == (200, "success")

    deployment = Deployment.objects.get(organization=org)
    assert (deployment.workflow_run_id, deployment.status) == (222, "success")
    assert list(deployment.status_changes.values_list("status", flat=True)) == ["success"]


@pytest.mark.parametrize(
    ("kind", "payload", "status", "error"),
    [
        (
            "build",
            {"release_cut_id": "5b1c6a43-1d83-4d4e-9b6c-4b8b7e0e2a11", "workflow_run_id": "1"},
            404,
            "Release not found",
        ),
        ("build", {"release_cut_id": "42", "workflow_run_id": "1"}, 404, "Release not found"),
        (
            "deploy",
            {"deployment_id": "5b1c6a43-1d83-4d4e-9b6c-4b8b7e0e2a11", "workflow_run_id": "1"},
            404,
            "Deployment not found",
        ),
        (
            "build",
            {"workflow_run_id": "1"},
            400,
            "Invalid release_cut_id: expected the id the workflow was dispatched with",
        ),
        (
            "deploy",
            {"deployment_id": 7, "workflow_run_id": "1"},
            400,
            "Invalid deployment_id: expected the id the workflow was dispatched with",
        ),
        (
            "build",
            {"release_cut_id": "x"},
            400,
            "Invalid workflow_run_id: must be the workflow run's id, a positive whole number",
        ),
        (
            "deploy",
            {"deployment_id": "x", "workflow_run_id": "run-1"},
            400,
            "Invalid workflow_run_id: must be the workflow run's id, a positive whole number",
        ),
        (
            "deploy",
            {"deployment_id": "x", "workflow_run_id": "0"},
            400,
            "Invalid workflow_run_id: must be the workflow run's id, a positive whole number",
        ),
        (
            "deploy",
            {"deployment_id": "x", "workflow_run_id": "9" * 20},
            400,
            "Invalid workflow_run_id: must be at most 9223372036854775807",
        ),
        ("build", [], 400, "Invalid JSON body: expected an object"),
    ],
)
def test_sync_errors_are_aviators(api, kind, payload, status, error):
    response = sync(api, kind, payload)

    assert response.status_code == status
    assert response.json() == {"error": error}


def test_another_organizations_ids_are_not_found(api, other_api, other_org):
    EnvironmentFactory(organization=other_org, name="production")
    create_rc(other_api)
    deployment = send(
        other_api, "post", f"{BASE}/environments/production/deployments", {"release_candidate_version": "1.4.0-rc2"}
    )
    release_id = str(Release.objects.get(organization=other_org).public_id)

    assert sync(api, "build", {"release_cut_id": release_id, "workflow_run_id": "1"}).json() == {
        "error": "Release not found"
    }
    response = sync(api, "deploy", {"deployment_id": deployment.json()["id"], "workflow_run_id": "1"})
    assert response.json() == {"error": "Deployment not found"}
    assert Deployment.objects.get().workflow_run_id is None


def test_sync_needs_a_write_token(client, read_api, org):
    payload = {"release_cut_id": "x", "workflow_run_id": "1"}

    assert sync(client, "build", payload).status_code == 401
    response = sync(read_api, "deploy", {"deployment_id": "x", "workflow_run_id": "1"})
    assert (response.status_code, response.json()) == (403, {"error": "Forbidden: this token lacks the 'write' scope"})


def test_sync_is_rate_limited_like_the_native_api(api, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "2/min", "anon": "2/min"}}
    caches[settings.RATE_LIMIT_CACHE].clear()
    try:
        for _ in range(2):
            assert sync(api, "build", {"release_cut_id": "x", "workflow_run_id": "1"}).status_code == 404
        response = sync(api, "build", {"release_cut_id": "x", "workflow_run_id": "1"})
    finally:
        caches[settings.RATE_LIMIT_CACHE].clear()

    assert response.status_code == 429
    assert response["Retry-After"]
    assert set(response.json()) == {"error"}


def test_the_native_api_beside_the_sync_paths_is_unchanged(api):
    assert api.get("/api/v1/releases/").status_code == 200
    # The guide's exact paths only: with a trailing slash it is a path of the native API (none).
    assert api.post("/api/v1/sync-build-github-action/", {}, format="json").status_code == 404
