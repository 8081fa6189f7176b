"""Deployments asked for, status upserts and rollbacks (Aviator's rules, any entry point's services)."""

from datetime import UTC, datetime, timedelta

import pytest

from deployments.models import Deployment, Environment
from deployments.selectors import environment_get
from deployments.services import (
    deployment_record,
    deployment_rollback,
    deployment_rollback_target,
    deployment_start,
    deployment_status_upsert,
    deployment_workflow_run_set,
)
from releases.services import release_create
from releasetracker import events
from releasetracker.errors import DomainError, NotFound
from tests.factories import EnvironmentFactory

pytestmark = pytest.mark.django_db

WHEN = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def production(org):
    return EnvironmentFactory(organization=org, name="production")


@pytest.fixture
def published():
    """The deployment.created events the services publish, as (status, requested)."""
    seen = []

    def receiver(sender, **rows):
        if sender == events.DEPLOYMENT_CREATED:
            seen.append((rows["deployment"].status, rows["requested"]))

    events.changed.connect(receiver, weak=False)
    yield seen
    events.changed.disconnect(receiver)


def release(org, version: str, project: str = "checkout"):
    return release_create(organization=org, version=version, projects=[project])[0]


def live(org, environment, version: str, *, hours: int, project: str = "checkout", status: str = "success"):
    """A deployment of ``version`` at ``hours`` after WHEN (its finish, or for one not finished, its time)."""
    when = WHEN + timedelta(hours=hours)
    time = {"finished_at": when} if status in ("success", "failure") else {"deployed_at": when}
    deployment, _ = deployment_record(
        organization=org,
        environment=environment,
        release=version,
        project=project,
        status=status,
        **time,
    )
    return deployment


# deployment_start ------------------------------------------------------------------------------


def test_a_started_deployment_is_pending_and_asks_for_the_deploy_workflow(org, production, published):
    rc = release(org, "1.0.0-rc1")

    deployment = deployment_start(organization=org, environment=production, release=rc, project="checkout")

    assert (deployment.status, deployment.release, deployment.project.name) == ("pending", rc, "checkout")
    assert published == [("pending", True)]


# deployment_status_upsert ----------------------------------------------------------------------


def test_an_upsert_without_a_deployment_records_one_with_the_status_and_asks_for_no_workflow(
    org, production, published
):
    rc = release(org, "1.0.0-rc1")

    deployment, created = deployment_status_upsert(
        organization=org, environment=production, release=rc, project="checkout", status="in_progress"
    )

    assert created
    assert (deployment.status, deployment.environment, deployment.release) == ("in_progress", production, rc)
    assert deployment.started_at is not None
    assert published == [("in_progress", False)]


def test_an_upsert_moves_the_latest_deployment_of_that_release_and_project(org, production, published):
    rc, other = release(org, "1.0.0-rc1"), release(org, "1.1.0-rc1")
    older = live(org, production, "1.0.0-rc1", hours=0, status="failure")
    latest = live(org, production, "1.0.0-rc1", hours=1, status="in_progress")
    untouched = [live(org, production, "1.1.0-rc1", hours=2, status="in_progress")]
    untouched.append(live(org, production, "1.0.0-rc1", hours=3, project="billing", status="in_progress"))
    published.clear()

    deployment, created = deployment_status_upsert(
        organization=org, environment=production, release=rc, project="checkout", status="success"
    )

    assert (created, deployment.pk, deployment.status) == (False, latest.pk, "success")
    assert [c.status for c in deployment.status_changes.order_by("id")] == ["in_progress", "success"]
    assert Deployment.objects.get(pk=older.pk).status == "failure"
    assert [Deployment.objects.get(pk=d.pk).status for d in untouched] == ["in_progress", "in_progress"]
    assert other.deployments.count() == 1
    assert published == []  # a status change is not a new deployment, nor a workflow request


@pytest.mark.parametrize("existing", [False, True])
def test_an_upserted_deployment_comes_back_ready_to_render(org, production, existing, django_assert_num_queries):
    rc = release(org, "1.0.0-rc1")
    if existing:
        live(org, production, "1.0.0-rc1", hours=0, status="pending")

    deployment, _ = deployment_status_upsert(
        organization=org, environment=production, release=rc, project="checkout", status="success"
    )

    with django_assert_num_queries(0):
        assert (deployment.project.name, deployment.environment.name, deployment.release.version) == (
            "checkout",
            "production",
            "1.0.0-rc1",
        )
        assert deployment.updated_at is not None


# deployment_rollback_target --------------------------------------------------------------------


def target(org, environment, project: str = "checkout"):
    found = deployment_rollback_target(organization=org, environment=environment, project=project)
    return found.version if found else None


def test_there_is_no_target_before_two_releases_were_live(org, production):
    release(org, "1.0.0-rc1")
    assert target(org, production) is None

    live(org, production, "1.0.0-rc1", hours=0)
    live(org, production, "1.0.0-rc1", hours=1)

    assert target(org, production) is None


def test_the_target_is_the_release_live_before_the_live_one(org, production):
    for n in range(3):
        release(org, f"1.{n}.0-rc1")
        live(org, production, f"1.{n}.0-rc1", hours=n)

    assert target(org, production) == "1.1.0-rc1"


def test_the_target_skips_deployments_that_did_not_succeed_and_repeats_of_the_live_release(org, production):
    for version in ("1.0.0-rc1", "1.1.0-rc1", "1.2.0-rc1"):
        release(org, version)
    live(org, production, "1.0.0-rc1", hours=0)
    live(org, production, "1.1.0-rc1", hours=1, status="failure")
    live(org, production, "1.2.0-rc1", hours=2)
    live(org, production, "1.2.0-rc1", hours=3)
    live(org, production, "1.1.0-rc1", hours=4, status="failure")

    assert target(org, production) == "1.0.0-rc1"


def test_after_a_rollback_the_target_is_the_release_it_replaced(org, production):
    release(org, "1.0.0-rc1")
    release(org, "1.1.0-rc1")
    live(org, production, "1.0.0-rc1", hours=0)
    live(org, production, "1.1.0-rc1", hours=1)
    live(org, production, "1.0.0-rc1", hours=2)

    assert target(org, production) == "1.1.0-rc1"


def test_other_environments_projects_and_bare_shas_do_not_count(org, production, other_org):
    staging = EnvironmentFactory(organization=org, name="staging")
    release(org, "1.0.0-rc1")
    release(org, "1.1.0-rc1", project="billing")
    release(org, "1.2.0-rc1")
    live(org, staging, "1.0.0-rc1", hours=0)
    live(org, production, "1.1.0-rc1", hours=1, project="billing")
    deployment_record(organization=org, environment=production, commit_sha="abcdef1", project="checkout")
    live(org, production, "1.2.0-rc1", hours=3)
    theirs = EnvironmentFactory(organization=other_org, name="production")
    release(other_org, "0.9.0-rc1")
    live(other_org, theirs, "0.9.0-rc1", hours=0)

    assert target(org, production) is None


# deployment_rollback ---------------------------------------------------------------------------


def test_a_rollback_puts_back_the_target_flagged_and_asks_for_the_deploy_workflow(org, production, published):
    release(org, "1.0.0-rc1")
    release(org, "1.1.0-rc1")
    live(org, production, "1.0.0-rc1", hours=0)
    live(org, production, "1.1.0-rc1", hours=1)
    published.clear()

    deployment = deployment_rollback(organization=org, environment=production, project="checkout")

    assert (deployment.release.version, deployment.is_rollback, deployment.status) == ("1.0.0-rc1", True, "pending")
    assert published == [("pending", True)]


def test_a_rollback_to_a_named_release_needs_no_history(org, production):
    rc = release(org, "1.0.0-rc1")

    deployment = deployment_rollback(
        organization=org, environment=production, project="checkout", release=rc, status="success"
    )

    assert (deployment.release, deployment.is_rollback, deployment.status) == (rc, True, "success")


def test_a_rollback_with_nothing_to_go_back_to_is_not_found_and_records_nothing(org, production):
    release(org, "1.0.0-rc1")
    live(org, production, "1.0.0-rc1", hours=0)

    with pytest.raises(NotFound) as refused:
        deployment_rollback(organization=org, environment=production, project="checkout")

    assert refused.value.field == "release"
    assert Deployment.objects.filter(organization=org).count() == 1


# environment_get -------------------------------------------------------------------------------


def test_a_name_no_environment_can_have_finds_none_without_asking_the_database(
    org, production, django_assert_num_queries
):
    limit = Environment._meta.get_field("name").max_length

    with django_assert_num_queries(0):
        assert environment_get(organization=org, name="x" * (limit + 1)) is None
        assert environment_get(organization=org, name="produc\x00tion") is None
    assert environment_get(organization=org, name="production") == production


# The run that carries a deployment out (Aviator's sync-deploy call) ----------------------------


@pytest.mark.parametrize("status", ["pending", "queued"])
def test_a_deployment_not_started_is_in_progress_once_its_run_reports(org, production, status):
    rc = release(org, "1.0.0-rc1")
    deployment = deployment_start(
        organization=org, environment=production, release=rc, project="checkout", status=status
    )

    linked = deployment_workflow_run_set(organization=org, deployment=deployment, workflow_run_id="12345")

    assert (linked.workflow_run_id, linked.status) == (12345, "in_progress")
    assert linked.started_at is not None
    assert (linked.environment.name, linked.project.name) == ("production", "checkout")
    assert list(linked.status_changes.values_list("status", flat=True)) == [status, "in_progress"]


@pytest.mark.parametrize("status", ["in_progress", "success", "failure", "canceled"])
def test_a_deployment_further_along_keeps_its_status(org, production, status):
    release(org, "1.0.0")
    deployment = live(org, production, "1.0.0", hours=1, status=status)

    linked = deployment_workflow_run_set(organization=org, deployment=deployment, workflow_run_id=7)

    assert (linked.workflow_run_id, linked.status) == (7, status)
    assert linked.status_changes.count() == 1


def test_another_organizations_deployment_is_refused(org, other_org, production):
    release(org, "1.0.0")
    deployment = live(org, production, "1.0.0", hours=1)

    with pytest.raises(DomainError) as refused:
        deployment_workflow_run_set(organization=other_org, deployment=deployment, workflow_run_id=7)

    assert refused.value.field == "deployment"
    deployment.refresh_from_db()
    assert deployment.workflow_run_id is None
