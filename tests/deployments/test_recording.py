"""Recording a deployment: rollback detection, the rows it names, idempotency, and work that must
not grow with the organization's history.

The rollback rules are run with and without an active webhook endpoint (whose deliveries are
queued in the same transaction) and with every call carrying its own external id (the
``record`` fixture's ``path`` parameter).

Rollback (DESIGN.md, "DORA metrics"): a deployment that puts back a release (or sha) that was
already live in that environment, and for that project, before the one it replaces.
"""

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deployments.models import FINAL_STATUSES, Deployment, DeploymentStatusChange, Environment
from deployments.services import deployment_record, deployment_update, environment_get_or_create
from releases.models import Project, Release
from releases.services import release_create
from releasetracker.errors import DomainError
from tests.plans import explain_analyze, rows_read
from webhooks.models import WebhookDelivery
from webhooks.services import endpoint_create

URL = "/api/v1/deployments/"
SHA_A = "a" * 40
SHA_B = "b" * 40
SHA_UNKNOWN = "c0ffee" * 6 + "abcd"
PATHS = ["plain", "outbox", "external_id"]

# In the past and whole seconds; ``at(n)`` is n hours later, so the order of deployments is explicit.
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def post(client, body: dict, url: str = URL):
    return client.post(url, json.dumps(body), content_type="application/json")


def patch(client, url: str, body: dict):
    return client.patch(url, json.dumps(body), content_type="application/json")


def releases(org, *versions: str, projects=("api",)) -> None:
    for version in versions:
        release_create(organization=org, version=version, projects=list(projects))


def add_webhook_endpoint(org, settings):
    """An active endpoint of ``org``: every new deployment then queues a delivery (the outbox)."""
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True  # nothing is ever sent: no worker runs here
    return endpoint_create(organization=org, url="http://127.0.0.1:9/hook", events=["deployment.created"])


def counts() -> tuple[int, int, int]:
    return Deployment.objects.count(), DeploymentStatusChange.objects.count(), Environment.objects.count()


@pytest.fixture(params=PATHS)
def path(request) -> str:
    return request.param


@pytest.fixture
def record(org, path, settings):
    """``deployment_record`` for ``org`` in production by default, through the ``path`` under test."""
    if path == "outbox":
        add_webhook_endpoint(org, settings)
    run_ids = itertools.count(1)

    def record_one(release: str | Release | None = None, *, hours: float, **kwargs):
        kwargs.setdefault("environment", "production")
        if path == "external_id":
            kwargs.setdefault("external_id", f"run-{next(run_ids)}")
        if release is not None:
            kwargs["release"] = release
        final = kwargs.get("status", "success") in FINAL_STATUSES
        kwargs.setdefault("finished_at" if final else "started_at", at(hours))
        deployment, created = deployment_record(organization=org, **kwargs)
        assert created is True
        if path == "outbox":
            [delivery] = WebhookDelivery.objects.filter(payload__data__id=str(deployment.public_id))
            assert delivery.payload["data"]["is_rollback"] is deployment.is_rollback
        return deployment

    return record_one


def stored_rollback(deployment) -> bool:
    return Deployment.objects.get(pk=deployment.pk).is_rollback


# Rollback detection ---------------------------------------------------------------------------


def test_it_marks_putting_back_an_earlier_release_after_a_newer_one_as_a_rollback(org, record):
    releases(org, "1.0.0", "1.1.0")

    first = record("1.0.0", hours=0)
    newer = record("1.1.0", hours=1)
    back = record("1.0.0", hours=2)

    assert (first.is_rollback, newer.is_rollback, back.is_rollback) == (False, False, True)
    assert [stored_rollback(d) for d in (first, newer, back)] == [False, False, True]


def test_it_marks_putting_back_a_release_two_deployments_old_as_a_rollback(org, record):
    releases(org, "1.0.0", "1.1.0", "1.2.0")

    record("1.0.0", hours=0)
    record("1.1.0", hours=1)
    record("1.2.0", hours=2)
    back = record("1.0.0", hours=3)

    assert back.is_rollback is True
    assert stored_rollback(back) is True


@pytest.mark.parametrize(
    "history",
    [["1.0.0", "1.1.0", "1.1.0"], ["1.0.0", "1.0.0"], ["1.0.0", "1.1.0", "1.0.0", "1.0.0"]],
    ids=["after-an-upgrade", "twice-in-a-row", "after-a-rollback"],
)
def test_it_does_not_mark_redeploying_the_live_release_as_a_rollback(org, record, history):
    releases(org, "1.0.0", "1.1.0")
    deployments = [record(version, hours=i) for i, version in enumerate(history)]

    assert deployments[-1].is_rollback is False
    assert stored_rollback(deployments[-1]) is False


def test_it_does_not_mark_an_upgrade_to_a_new_release_as_a_rollback(org, record):
    releases(org, "1.0.0", "1.1.0", "1.2.0")

    deployments = [record(version, hours=i) for i, version in enumerate(["1.0.0", "1.1.0", "1.2.0"])]

    assert [d.is_rollback for d in deployments] == [False, False, False]
    assert [stored_rollback(d) for d in deployments] == [False, False, False]


def test_it_does_not_mark_a_new_bare_sha_as_a_rollback(org, record):
    deployments = [record(commit_sha=sha, hours=i) for i, sha in enumerate([SHA_A, SHA_B, SHA_UNKNOWN])]

    assert [d.is_rollback for d in deployments] == [False, False, False]
    assert [stored_rollback(d) for d in deployments] == [False, False, False]


def test_a_deployment_recorded_late_is_judged_by_what_was_live_at_its_own_time(org, record):
    releases(org, "1.0.0", "1.1.0")
    record("1.0.0", hours=0)
    record("1.1.0", hours=2)

    # Reported after 1.1.0 but finished before it: 1.0.0 was then still live.
    late = record("1.0.0", hours=1)

    assert late.is_rollback is False
    assert stored_rollback(late) is False


def test_a_release_live_only_later_does_not_make_a_late_record_a_rollback(org, record):
    releases(org, "1.0.0", "1.1.0")
    record("1.1.0", hours=0)
    record("1.0.0", hours=2)

    # Finished between the two: before it only 1.1.0 had been live.
    late = record("1.0.0", hours=1)

    assert late.is_rollback is False
    assert stored_rollback(late) is False


def test_it_does_not_mark_the_first_ever_deployment_as_a_rollback(org, record):
    releases(org, "1.0.0")

    first = record("1.0.0", hours=0)

    assert first.is_rollback is False
    assert stored_rollback(first) is False


def test_it_does_not_mark_the_first_deployment_to_an_existing_environment_as_a_rollback(org, record):
    releases(org, "1.0.0")
    environment_get_or_create(organization=org, name="production")

    first = record("1.0.0", hours=0)

    assert first.is_rollback is False
    assert stored_rollback(first) is False


def test_it_marks_putting_back_an_earlier_release_named_by_its_row_as_a_rollback(org, record):
    old, _ = release_create(organization=org, version="1.0.0", projects=["api"])
    new, _ = release_create(organization=org, version="1.1.0", projects=["api"])

    # A Release instance, as the vendor adapters pass it.
    record(old, hours=0)
    record(new, hours=1)
    back = record(old, hours=2)

    assert back.release.pk == old.pk and back.project.name == "api"
    assert back.is_rollback is True
    assert stored_rollback(back) is True


def test_it_marks_putting_back_an_earlier_bare_sha_as_a_rollback(org, record):
    a1 = record(commit_sha=SHA_A, hours=0)
    b = record(commit_sha=SHA_B, hours=1)
    a2 = record(commit_sha=SHA_A, hours=2)
    a3 = record(commit_sha=SHA_A, hours=3)

    assert all(d.release is None for d in (a1, b, a2, a3))
    assert [d.is_rollback for d in (a1, b, a2, a3)] == [False, False, True, False]
    assert [stored_rollback(d) for d in (a1, b, a2, a3)] == [False, False, True, False]


def test_a_release_live_only_for_another_project_does_not_make_a_rollback(org, record):
    releases(org, "1.0.0", "1.1.0", projects=["api", "web"])

    record("1.0.0", project="api", hours=0)
    record("1.1.0", project="web", hours=1)
    api_again = record("1.0.0", project="api", hours=2)

    # For project api, 1.0.0 is still the live release: nothing is put back.
    assert api_again.project.name == "api"
    assert api_again.is_rollback is False
    assert stored_rollback(api_again) is False


def test_a_rollback_of_one_project_is_detected_among_deployments_of_another(org, record):
    releases(org, "1.0.0", "1.1.0", projects=["api", "web"])

    record("1.0.0", project="api", hours=0)
    record("1.1.0", project="api", hours=1)
    record("1.1.0", project="web", hours=2)
    back = record("1.0.0", project="api", hours=3)

    assert back.is_rollback is True


def test_a_release_live_only_in_another_environment_does_not_make_a_rollback(org, record):
    releases(org, "1.0.0", "1.1.0")

    record("1.0.0", environment="production", hours=0)
    record("1.1.0", environment="staging", hours=1)
    production_again = record("1.0.0", environment="production", hours=2)
    staging_back = record("1.0.0", environment="staging", hours=3)

    assert production_again.is_rollback is False
    # 1.0.0 was never live in staging before 1.1.0.
    assert staging_back.is_rollback is False
    assert [stored_rollback(d) for d in (production_again, staging_back)] == [False, False]


def test_a_failed_deployment_was_never_live_so_going_back_from_it_is_not_a_rollback(org, record):
    releases(org, "1.0.0", "1.1.0")

    record("1.0.0", hours=0)
    record("1.1.0", status="failure", hours=1)
    again = record("1.0.0", hours=2)

    assert again.is_rollback is False
    assert stored_rollback(again) is False


def test_it_marks_putting_back_a_release_after_a_bare_sha_as_a_rollback(org, record):
    releases(org, "1.0.0")

    record("1.0.0", project="api", hours=0)
    sha_only = record(commit_sha=SHA_UNKNOWN, project="api", hours=1)
    back = record("1.0.0", project="api", hours=2)

    assert sha_only.release is None and sha_only.is_rollback is False
    assert back.is_rollback is True
    assert stored_rollback(back) is True


def test_it_marks_putting_back_a_projectless_release_after_a_bare_sha_as_a_rollback(org, record):
    releases(org, "1.0.0", projects=())

    record("1.0.0", hours=0)
    record(commit_sha=SHA_UNKNOWN, hours=1)
    back = record("1.0.0", hours=2)

    assert back.project is None
    assert back.is_rollback is True
    assert stored_rollback(back) is True


def test_it_marks_putting_back_a_bare_sha_after_a_release_as_a_rollback(org, record):
    releases(org, "1.0.0", projects=())

    record(commit_sha=SHA_UNKNOWN, hours=0)
    record("1.0.0", hours=1)
    back = record(commit_sha=SHA_UNKNOWN, hours=2)

    assert back.release is None
    assert back.is_rollback is True


@pytest.mark.parametrize("flag", [{"is_rollback": True}, {"tags": ["is_rollback"]}], ids=["flag", "tag"])
@pytest.mark.parametrize("history", [[], ["1.0.0"]], ids=["first-ever", "redeploy-of-live"])
def test_an_explicit_rollback_flag_is_kept_when_detection_says_no(org, record, flag, history):
    releases(org, "1.0.0")
    for i, version in enumerate(history):
        record(version, hours=i)

    flagged = record("1.0.0", hours=len(history), **flag)

    assert flagged.is_rollback is True
    assert stored_rollback(flagged) is True


def test_an_explicit_rollback_flag_is_kept_for_a_failed_deployment(org, record):
    releases(org, "1.0.0")

    flagged = record("1.0.0", status="failure", is_rollback=True, hours=0)

    assert flagged.is_rollback is True
    assert stored_rollback(flagged) is True


def test_a_deployment_that_is_not_successful_is_not_marked_as_a_rollback_yet(org, record):
    releases(org, "1.0.0", "1.1.0")
    record("1.0.0", hours=0)
    record("1.1.0", hours=1)

    running = record("1.0.0", status="in_progress", hours=2)
    failed = record("1.0.0", status="failure", hours=3)

    assert (running.is_rollback, failed.is_rollback) == (False, False)
    assert (stored_rollback(running), stored_rollback(failed)) == (False, False)


def test_a_status_change_to_success_marks_a_rollback(org, record):
    releases(org, "1.0.0", "1.1.0")
    record("1.0.0", hours=0)
    record("1.1.0", hours=1)
    back = record("1.0.0", status="in_progress", hours=2)
    assert back.is_rollback is False

    updated = deployment_update(organization=org, deployment=back, status="success", at=at(3))

    assert updated.is_rollback is True
    assert stored_rollback(back) is True


def test_a_status_change_to_success_of_the_live_release_is_not_a_rollback(org, record):
    releases(org, "1.0.0", "1.1.0")
    record("1.0.0", hours=0)
    record("1.1.0", hours=1)
    again = record("1.1.0", status="in_progress", hours=2)

    deployment_update(organization=org, deployment=again, status="success", at=at(3))

    assert stored_rollback(again) is False


def test_a_status_change_to_success_of_a_bare_sha_marks_a_rollback(org, record):
    record(commit_sha=SHA_A, hours=0)
    record(commit_sha=SHA_B, hours=1)
    back = record(commit_sha=SHA_A, status="in_progress", hours=2)

    deployment_update(organization=org, deployment=back, status="success", at=at(3))

    assert stored_rollback(back) is True


def test_a_status_change_to_success_through_the_api_marks_a_rollback(org, api):
    releases(org, "1.0.0", "1.1.0")
    for hours, version in enumerate(["1.0.0", "1.1.0"]):
        post(api, {"environment": "production", "release": version, "finished_at": at(hours).isoformat()})
    running = post(
        api, {"environment": "production", "release": "1.0.0", "status": "in_progress", "started_at": at(2).isoformat()}
    )
    assert running.status_code == 201 and running.json()["is_rollback"] is False

    done = patch(api, running["Location"], {"status": "success", "at": at(3).isoformat()})

    assert done.status_code == 200, done.content
    assert done.json()["is_rollback"] is True


def test_a_release_of_one_project_deploys_that_project(org, record):
    releases(org, "1.0.0", projects=["api"])

    deployment = record("1.0.0", hours=0)

    assert deployment.project.name == "api"
    assert Deployment.objects.get(pk=deployment.pk).project.name == "api"


def test_a_release_of_two_projects_deployed_without_a_project_has_none(org, record):
    releases(org, "1.0.0", projects=["api", "web"])

    deployment = record("1.0.0", hours=0)

    assert deployment.project is None
    assert Deployment.objects.get(pk=deployment.pk).project_id is None


def test_a_rollback_without_a_project_is_detected(org, record):
    releases(org, "1.0.0", "1.1.0", projects=["api", "web"])

    first = record("1.0.0", hours=0)
    newer = record("1.1.0", hours=1)
    back = record("1.0.0", hours=2)

    assert (first.project, newer.project, back.project) == (None, None, None)
    assert (first.is_rollback, newer.is_rollback, back.is_rollback) == (False, False, True)
    assert stored_rollback(back) is True


def test_deployments_of_a_named_project_do_not_count_for_those_without_one(org, record):
    releases(org, "1.0.0", "1.1.0", projects=["api", "web"])

    record("1.0.0", hours=0)
    record("1.1.0", project="api", hours=1)
    again = record("1.0.0", hours=2)

    # Without a project, 1.0.0 is still what is live: its last deployment without one.
    assert again.is_rollback is False


def test_putting_back_an_earlier_release_through_the_api_is_a_rollback(org, api):
    releases(org, "1.0.0", "1.1.0")
    answers = [
        post(api, {"environment": "production", "release": version, "finished_at": at(hours).isoformat()})
        for hours, version in enumerate(["1.0.0", "1.1.0", "1.0.0", "1.0.0"])
    ]

    assert [a.status_code for a in answers] == [201] * 4
    assert [a.json()["is_rollback"] for a in answers] == [False, False, True, False]


def test_putting_back_an_earlier_bare_sha_through_the_api_is_a_rollback(api):
    answers = [
        post(api, {"environment": "production", "commit_sha": sha, "finished_at": at(hours).isoformat()})
        for hours, sha in enumerate([SHA_A, SHA_B, SHA_A])
    ]

    assert [a.status_code for a in answers] == [201] * 3
    assert [a.json()["is_rollback"] for a in answers] == [False, False, True]


# All or nothing, and what a new deployment comes back with -------------------------------------


@pytest.mark.parametrize("status", ["success", "in_progress", "failure", "queued"])
def test_an_api_post_stores_the_deployment_with_exactly_one_status_change_of_its_status(org, api, status):
    releases(org, "1.0.0")

    responses = [post(api, {"environment": "production", "release": "1.0.0", "status": status}) for _ in range(2)]

    for response in responses:
        assert response.status_code == 201, response.content
        deployment = Deployment.objects.get(public_id=response.json()["id"])
        assert deployment.status == status
        assert [c.status for c in deployment.status_changes.all()] == [status]
        assert [c["status"] for c in response.json()["status_history"]] == [status]
    assert DeploymentStatusChange.objects.count() == Deployment.objects.count() == 2


@pytest.mark.parametrize("environment_exists", [False, True], ids=["new-environment", "existing-environment"])
def test_a_recorded_deployment_has_its_related_rows_and_history_loaded(org, record, environment_exists):
    releases(org, "1.0.0")
    if environment_exists:
        environment_get_or_create(organization=org, name="production")

    deployment = record("1.0.0", project="api", hours=0)

    with CaptureQueriesContext(connection) as queries:
        loaded = (
            deployment.environment.name,
            deployment.release.version,
            deployment.project.name,
            [(c.status, c.at) for c in deployment.history],
        )
    assert len(queries.captured_queries) == 0, [q["sql"] for q in queries.captured_queries]
    assert loaded == ("production", "1.0.0", "api", [("success", at(0))])
    stored = Deployment.objects.get(pk=deployment.pk)
    assert [(c.pk, c.status, c.at) for c in stored.status_changes.all()] == [
        (c.pk, c.status, c.at) for c in deployment.history
    ]
    assert (stored.environment_id, stored.release_id, stored.project_id) == (
        deployment.environment.pk,
        deployment.release.pk,
        deployment.project.pk,
    )


def test_a_recorded_deployment_matches_what_a_later_read_returns(org, record):
    releases(org, "1.0.0")
    environment_get_or_create(organization=org, name="production")

    deployment = record("1.0.0", hours=1, started_at=at(0), tags=["is_fix"], title="Ship it", commits_count=3)

    stored = Deployment.objects.get(pk=deployment.pk)
    fields = [f.attname for f in Deployment._meta.concrete_fields]
    assert {f: getattr(deployment, f) for f in fields} == {f: getattr(stored, f) for f in fields}
    assert stored.duration_seconds == 3600
    assert stored.occurred_at == at(1)


# Query counts and the paths of an API POST -----------------------------------------------------


@pytest.fixture
def warmed_up(org, api):
    """``org`` with release 1.0.0 of project api, an environment "production" and the token's use recorded."""
    releases(org, "1.0.0")
    first = post(api, {"environment": "production", "release": "1.0.0", "project": "api"})
    assert first.status_code == 201
    return api


def test_a_post_takes_as_many_queries_after_50_deployments_as_after_one(org, warmed_up):
    body = {"environment": "production", "release": "1.0.0", "project": "api"}

    def post_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert post(warmed_up, body).status_code == 201
        return len(queries.captured_queries)

    after_one = post_queries()
    for _ in range(48):
        post(warmed_up, body)
    assert post_queries() == after_one
    assert Deployment.objects.count() == DeploymentStatusChange.objects.count() == 51


def test_a_post_with_an_active_webhook_endpoint_queues_a_delivery(org, warmed_up, settings):
    endpoint = add_webhook_endpoint(org, settings)

    response = post(warmed_up, {"environment": "production", "release": "1.0.0", "project": "api"})

    assert response.status_code == 201, response.content
    [delivery] = WebhookDelivery.objects.all()
    assert delivery.endpoint_id == endpoint.pk
    assert delivery.event == "deployment.created"
    assert delivery.payload["data"]["id"] == response.json()["id"]
    assert delivery.payload["data"]["environment"] == "production"
    assert delivery.payload["data"]["release"] == "1.0.0"
    assert delivery.payload["data"]["project"] == "api"
    assert DeploymentStatusChange.objects.filter(deployment__public_id=response.json()["id"]).count() == 1


def test_a_post_with_an_inactive_webhook_endpoint_queues_nothing(org, warmed_up, settings):
    endpoint = add_webhook_endpoint(org, settings)
    endpoint.is_active = False
    endpoint.save()

    response = post(warmed_up, {"environment": "production", "release": "1.0.0", "project": "api"})

    assert response.status_code == 201, response.content
    assert not WebhookDelivery.objects.exists()


def test_a_post_naming_a_new_environment_creates_it(org, warmed_up):
    response = post(warmed_up, {"environment": "qa-eu", "release": "1.0.0", "project": "api"})

    assert response.status_code == 201, response.content
    created = Environment.objects.get(organization=org, name="qa-eu")
    assert created.is_production is False
    assert Deployment.objects.get(public_id=response.json()["id"]).environment_id == created.pk
    assert response.json()["environment"] == "qa-eu"


def test_a_post_naming_a_new_project_creates_it(org, warmed_up):
    response = post(warmed_up, {"environment": "production", "release": "1.0.0", "project": "worker"})

    assert response.status_code == 201, response.content
    project = Project.objects.get(organization=org, name="worker")
    assert Deployment.objects.get(public_id=response.json()["id"]).project_id == project.pk


@pytest.mark.parametrize("environment", ["production", "brand-new"])
def test_a_post_naming_an_unknown_release_is_refused_and_stores_nothing(warmed_up, environment):
    before = counts()

    response = post(warmed_up, {"environment": environment, "release": "9.9.9", "project": "api"})

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "validation_error"
    assert "release" in body["fields"], body
    assert counts() == before
    assert not Environment.objects.filter(name="brand-new").exists()


def test_recording_an_unknown_release_is_refused_and_stores_nothing(org, record):
    releases(org, "1.0.0")
    record("1.0.0", hours=0)
    before = counts()

    with pytest.raises(DomainError) as exc:
        record("9.9.9", hours=1, environment="brand-new")

    assert exc.value.field == "release"
    assert counts() == before


# Tenancy ----------------------------------------------------------------------------------------


def test_a_post_naming_a_release_of_another_organization_is_refused(org, other_org, api):
    releases(other_org, "7.0.0")
    environment_get_or_create(organization=org, name="production")
    before = counts()

    response = post(api, {"environment": "production", "release": "7.0.0"})

    assert response.status_code == 400, response.content
    assert "release" in response.json()["fields"]
    assert counts() == before


def test_recording_a_release_of_another_organization_is_refused(org, other_org, record):
    releases(other_org, "7.0.0")
    theirs = release_create(organization=other_org, version="7.0.1")[0]
    before = counts()

    with pytest.raises(DomainError) as by_version:
        record("7.0.0", hours=0)
    with pytest.raises(DomainError) as by_row:
        deployment_record(organization=org, environment="production", release=theirs)

    assert (by_version.value.field, by_row.value.field) == ("release", "release")
    assert counts() == before


def test_another_organizations_environment_and_project_are_never_reused(org, other_org, record):
    releases(other_org, "1.0.0")
    releases(org, "1.0.0")
    theirs, _ = deployment_record(organization=other_org, environment="production", release="1.0.0", project="api")

    ours = record("1.0.0", project="api", hours=0)

    assert ours.environment.organization_id == org.pk
    assert ours.environment.pk != theirs.environment_id
    assert ours.project.organization_id == org.pk
    assert ours.project.pk != theirs.project_id
    assert ours.release.organization_id == org.pk
    stored = Deployment.objects.get(pk=ours.pk)
    assert stored.organization_id == stored.environment.organization_id == stored.project.organization_id == org.pk


def test_a_post_does_not_reuse_another_organizations_production_environment(org, other_org, api):
    releases(org, "1.0.0")
    their_production = environment_get_or_create(organization=other_org, name="production")

    response = post(api, {"environment": "production", "release": "1.0.0"})

    assert response.status_code == 201, response.content
    deployment = Deployment.objects.get(public_id=response.json()["id"])
    assert deployment.environment.organization_id == org.pk
    assert deployment.environment_id != their_production.pk


def test_another_organizations_deployments_do_not_make_a_rollback(org, other_org, record):
    releases(other_org, "1.0.0", "1.1.0")
    releases(org, "1.0.0")
    for hours, version in enumerate(["1.0.0", "1.1.0"]):
        deployment_record(organization=other_org, environment="production", release=version, finished_at=at(hours))

    ours = record("1.0.0", hours=2)

    assert ours.is_rollback is False


# external_id idempotency ------------------------------------------------------------------------


@pytest.mark.parametrize("environment_exists", [False, True], ids=["new-environment", "existing-environment"])
@pytest.mark.parametrize("target", [{"release": "1.0.0"}, {"commit_sha": SHA_A}], ids=["release", "bare-sha"])
def test_the_same_external_id_twice_in_an_environment_is_one_deployment(org, environment_exists, target):
    releases(org, "1.0.0")
    if environment_exists:
        environment_get_or_create(organization=org, name="production")

    first, created = deployment_record(organization=org, environment="production", external_id="run-7", **target)
    again, created_again = deployment_record(
        organization=org, environment="production", external_id="run-7", status="failure", **target
    )

    assert (created, created_again) == (True, False)
    assert again.pk == first.pk and again.status == "success"
    assert Deployment.objects.count() == DeploymentStatusChange.objects.count() == 1


def test_the_same_external_id_in_another_environment_is_another_deployment(org):
    releases(org, "1.0.0")

    first, _ = deployment_record(organization=org, environment="production", release="1.0.0", external_id="run-7")
    elsewhere, created = deployment_record(
        organization=org, environment="staging", release="1.0.0", external_id="run-7"
    )

    assert created is True and elsewhere.pk != first.pk
    assert Deployment.objects.count() == 2


def test_the_same_external_id_in_another_organization_is_another_deployment(org, other_org):
    releases(org, "1.0.0")
    releases(other_org, "1.0.0")

    ours, _ = deployment_record(organization=org, environment="production", release="1.0.0", external_id="run-7")
    theirs, created = deployment_record(
        organization=other_org, environment="production", release="1.0.0", external_id="run-7"
    )

    assert created is True and theirs.pk != ours.pk
    assert theirs.organization_id == other_org.pk


def test_a_repeat_with_an_active_webhook_endpoint_queues_no_second_delivery(org, settings):
    releases(org, "1.0.0")
    add_webhook_endpoint(org, settings)

    deployment_record(organization=org, environment="production", release="1.0.0", external_id="run-7")
    _, created = deployment_record(organization=org, environment="production", release="1.0.0", external_id="run-7")

    assert created is False
    assert WebhookDelivery.objects.count() == 1


def test_the_same_external_id_posted_twice_answers_see_other_with_the_first(org, api):
    releases(org, "1.0.0")
    body = {"environment": "production", "release": "1.0.0", "external_id": "run-7"}

    first = post(api, body)
    again = post(api, {**body, "status": "failure"})

    assert (first.status_code, again.status_code) == (201, 303)
    assert again["Location"] == first["Location"]
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["status"] == "success"
    assert Deployment.objects.count() == DeploymentStatusChange.objects.count() == 1


# Work that must not grow with the organization's history ------------------------------------

HISTORY = 3000


@pytest.fixture(params=["release", "sha"])
def long_history(org, request):
    """``HISTORY`` earlier successful deployments to production, with fresh statistics.

    Of release "old" when the new deployment names a release; of other bare shas when it names
    a bare sha. Returns (target, environment, release "new", project).
    """
    if connection.vendor != "postgresql":
        pytest.skip("the plans checked here are PostgreSQL's")
    releases(org, "old", "new")
    env = environment_get_or_create(organization=org, name="production")
    old = Release.objects.get(organization=org, version="old") if request.param == "release" else None
    project = Project.objects.get(organization=org, name="api")
    Deployment.objects.bulk_create(
        Deployment(
            organization=org,
            environment=env,
            release=old,
            commit_sha="" if old else f"{h:040x}",
            project=project,
            status="success",
            occurred_at=at(-h),
        )
        for h in range(1, HISTORY + 1)
    )
    with connection.cursor() as cursor:
        # With one release (or only bare shas) deployed thousands of times, the planner believes
        # a release has thousands of deployments: the case in which it once walked the history.
        cursor.execute("ANALYZE deployments_deployment")
    return request.param, env, Release.objects.get(organization=org, version="new"), project


def test_recording_a_new_target_reads_a_few_rows_however_long_the_history(org, long_history):
    target, env, new, project = long_history
    named = {"release": new} if target == "release" else {"commit_sha": SHA_UNKNOWN}

    with CaptureQueriesContext(connection) as queries:
        deployment, created = deployment_record(
            organization=org, environment=env, project=project, finished_at=at(1), **named
        )

    assert created and deployment.is_rollback is False
    reads = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and 'FROM "deployments_deployment"' in q["sql"]
    ]
    assert reads, [q["sql"] for q in queries.captured_queries]
    for sql in reads:
        # The deployment live before (the latest, found at once), the new target's own earlier
        # deployments (none) and, for the stream's stored outcomes, the two latest clean
        # successes before the new row (read past it, and one more row to settle the order of
        # equal times): never the organization's history.
        assert rows_read(explain_analyze(sql, None), "deployments_deployment") <= 4, sql
