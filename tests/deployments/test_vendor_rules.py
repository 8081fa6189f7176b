"""Rules for signals that name no environment: production deployments, declared releases, outcomes."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deployments.models import Deployment, Environment
from deployments.selectors import deployment_latest_production
from deployments.services import (
    deployment_record,
    deployment_record_from_repository,
    deployment_record_production,
    deployment_report_by_external_id,
    environment_production_get_or_create,
    release_declare,
    release_outcome_set,
)
from releases.models import Release, Repository
from releases.services import CommitInput, release_create
from releasetracker.errors import Conflict, DomainError
from tests.factories import EnvironmentFactory, ReleaseFactory

pytestmark = pytest.mark.django_db

SHA_A = "a" * 40
SHA_B = "b" * 40
WHEN = datetime(2024, 5, 1, 12, tzinfo=UTC)


def declare(org, **overrides):
    arguments = {
        "organization": org,
        "version": "1.2.0",
        "commits": [CommitInput(sha=SHA_A), CommitInput(sha=SHA_B)],
        "projects": ["web", "api"],
        "date_released": WHEN,
        "source": "echoes",
        "created_by": "token ci",
    }
    return release_declare(**{**arguments, **overrides})


# deployment_record_production ------------------------------------------------------------------


def test_a_signal_without_an_environment_is_recorded_in_a_new_production_environment(org):
    deployment, created = deployment_record_production(organization=org, commit_sha=SHA_A)

    assert created
    assert (deployment.environment.name, deployment.environment.is_production) == ("production", True)


def test_it_prefers_the_environment_named_production_then_the_oldest_production_one(org):
    EnvironmentFactory(organization=org, name="prod")
    EnvironmentFactory(organization=org, name="staging")

    deployment, _ = deployment_record_production(organization=org, commit_sha=SHA_A)

    assert deployment.environment.name == "prod"
    assert not Environment.objects.filter(organization=org, name="production").exists()


def test_a_refused_production_deployment_leaves_no_environment_behind(org):
    with pytest.raises(DomainError):
        deployment_record_production(organization=org, commit_sha="not a sha")

    assert not Environment.objects.filter(organization=org).exists()


# deployment_record_from_repository -------------------------------------------------------------


def test_a_deployment_reported_with_its_repository_url_records_the_repository_too(org):
    deployment, repository, created = deployment_record_from_repository(
        organization=org, repository_url="https://github.com/acme/shop.git", commit_sha=SHA_A, title="Deploy"
    )

    assert created
    assert (repository.name, repository.url) == ("acme/shop", "https://github.com/acme/shop.git")
    assert (deployment.environment.name, deployment.repository_url) == ("production", repository.url)


def test_a_deployment_keeps_the_url_it_was_sent_with_when_the_repository_is_known_by_another(org):
    deployment_record_from_repository(organization=org, repository_url="https://github.com/acme/shop", commit_sha=SHA_A)

    deployment, repository, _ = deployment_record_from_repository(
        organization=org, repository_url="https://github.com/acme/shop.git", commit_sha=SHA_B
    )

    assert repository.url == "https://github.com/acme/shop"
    assert deployment.repository_url == "https://github.com/acme/shop.git"


def test_a_refused_deployment_records_no_repository(org):
    with pytest.raises(DomainError) as refused:
        deployment_record_from_repository(
            organization=org, repository_url="https://github.com/acme/shop", commit_sha=SHA_A, title="x" * 501
        )

    assert refused.value.field == "title"
    assert not Repository.objects.exists()
    assert not Deployment.objects.exists()


# deployment_report_by_external_id --------------------------------------------------------------


def report(org, status, **overrides):
    arguments = {
        "organization": org,
        "environment": environment_production_get_or_create(organization=org),
        "external_id": "DE_node_1",
        "commit_sha": SHA_A,
        "title": "Deploy",
        "source": "iftrue",
    }
    return deployment_report_by_external_id(status=status, **{**arguments, **overrides})


@pytest.mark.parametrize(("end", "ends_as"), [("success", "success"), ("failure", "failure")])
def test_the_end_report_moves_the_started_deployment_to_its_status(org, end, ends_as):
    started, created = report(org, "in_progress")
    assert created and started.status == "in_progress" and started.started_at is not None

    ended, created = report(org, end)

    assert not created
    assert ended.pk == started.pk
    assert ended.status == ends_as
    assert ended.started_at == started.started_at
    assert ended.finished_at >= ended.started_at
    assert ended.occurred_at == ended.finished_at
    assert ended.duration_seconds == (ended.finished_at - ended.started_at).total_seconds()
    assert [c.status for c in ended.status_changes.all()] == ["in_progress", ends_as]
    assert Deployment.objects.filter(organization=org).count() == 1


def test_the_same_report_again_changes_nothing(org):
    first, _ = report(org, "in_progress")

    again, created = report(org, "in_progress")

    assert not created
    stored = Deployment.objects.get(pk=first.pk)
    assert (again.pk, stored.updated_at, stored.status) == (first.pk, first.updated_at, "in_progress")
    assert stored.status_changes.count() == 1


def test_a_late_start_report_does_not_undo_the_end(org):
    report(org, "in_progress")
    ended, _ = report(org, "success")

    late, created = report(org, "in_progress")

    stored = Deployment.objects.get(pk=ended.pk)
    assert (created, late.status, stored.status, stored.finished_at) == (False, "success", "success", ended.finished_at)
    assert [c.status for c in stored.status_changes.all()] == ["in_progress", "success"]


def test_a_finished_deployment_reported_with_another_outcome_takes_it(org):
    report(org, "success")

    failed, _ = report(org, "failure")

    assert failed.status == "failure"
    assert [c.status for c in failed.status_changes.all()] == ["success", "failure"]


def test_the_other_fields_stay_those_of_the_first_report(org):
    report(org, "in_progress", title="Deploy started")

    ended, _ = report(org, "success", title="Deploy finished")

    assert ended.title == "Deploy started"


def test_reports_without_an_external_id_are_each_a_deployment(org):
    report(org, "in_progress", external_id="")
    _, created = report(org, "success", external_id="")

    assert created
    assert Deployment.objects.filter(organization=org).count() == 2


def test_a_report_with_a_bad_status_is_refused_even_for_a_known_deployment(org):
    report(org, "in_progress")

    with pytest.raises(DomainError) as refused:
        report(org, "done")

    assert refused.value.field == "status"
    assert Deployment.objects.get(organization=org).status == "in_progress"


def test_the_same_external_id_in_another_organization_is_another_deployment(org, other_org):
    mine, _ = report(org, "in_progress")

    theirs, created = report(other_org, "success")

    assert created and theirs.pk != mine.pk
    assert Deployment.objects.get(pk=mine.pk).status == "in_progress"


def test_a_repeat_through_the_repository_url_moves_the_deployment_too(org):
    arguments = {"organization": org, "repository_url": "https://github.com/acme/shop", "commit_sha": SHA_A}
    first, _, _ = deployment_record_from_repository(status="in_progress", external_id="DE_1", **arguments)

    ended, repository, created = deployment_record_from_repository(status="failure", external_id="DE_1", **arguments)

    assert (ended.pk, ended.status, created, repository.name) == (first.pk, "failure", False, "acme/shop")


# release_declare -------------------------------------------------------------------------------


def test_a_declared_release_is_a_release_plus_a_successful_production_deployment_at_its_date(org):
    release, deployment, created = declare(org, url="https://github.com/acme/shop/releases/tag/v1.2.0")

    assert created
    assert (release.version, release.status, release.date_released) == ("1.2.0", "pending", WHEN)
    assert release.url == "https://github.com/acme/shop/releases/tag/v1.2.0"
    assert (deployment.release, deployment.environment.name) == (release, "production")
    assert deployment.status == "success"
    assert deployment.finished_at == deployment.deployed_at == deployment.occurred_at == WHEN
    assert deployment.started_at is None and deployment.duration_seconds is None
    assert [(change.status, change.at) for change in deployment.history] == [("success", WHEN)]
    assert deployment.source == "echoes"


def test_it_counts_as_a_deployment_from_the_moment_it_is_declared(org):
    release, deployment, _ = declare(org, date_released=None)

    assert list(Deployment.objects.filter(organization=org, release=release)) == [deployment]
    assert deployment.status == "success"
    # Undated: when it arrived, which is when the release row was made.
    assert release.date_released == release.created_at == deployment.occurred_at
    assert abs(release.date_released - timezone.now()) < timedelta(minutes=1)


def test_an_undated_declaration_gives_commits_first_seen_in_it_no_lead_time(org):
    release, deployment, _ = declare(org, date_released=None)

    # The commits were first seen after the release row was made: no made-up positive lead time.
    for link in release.release_commits.all():
        assert link.commit.timestamp is None
        assert link.commit.created_at >= deployment.occurred_at


def test_the_declared_release_comes_back_with_what_its_detail_shows_without_more_queries(org):
    release, deployment, _ = declare(org)

    with CaptureQueriesContext(connection) as queries:
        shas = [link.commit.sha for link in release.commit_links]
        names = [project.name for project in release.projects_by_name]
        deployments = release.deployments_newest_first
        environment = deployment.environment.name

    assert (shas, names, deployments, environment) == ([SHA_A, SHA_B], ["api", "web"], [deployment], "production")
    assert len(queries) == 0


def test_the_same_declaration_again_is_the_same_release_and_deployment(org):
    first, deployment, _ = declare(org)

    again, same_deployment, created = declare(org)

    assert not created
    assert (again.pk, same_deployment.pk) == (first.pk, deployment.pk)
    assert [link.commit.sha for link in again.release_commits.all()] == [SHA_A, SHA_B]
    assert Deployment.objects.filter(organization=org).count() == 1


def test_an_undated_declaration_repeated_later_is_still_the_same_declaration(org):
    first, _, _ = declare(org, date_released=None)

    again, _, created = declare(org, date_released=None)

    assert (again.pk, created) == (first.pk, False)
    assert again.date_released == first.date_released


def test_the_same_version_declared_with_other_contents_is_a_conflict_naming_them(org):
    declare(org)

    with pytest.raises(Conflict) as refused:
        declare(org, projects=["worker"])

    assert "projects" in refused.value.fields
    assert Deployment.objects.filter(organization=org).count() == 1


def test_a_refused_declaration_writes_nothing(org):
    with pytest.raises(DomainError) as refused:
        declare(org, date_released=timezone.now() + timedelta(days=3))

    assert refused.value.field == "date_released"
    assert not Release.objects.exists()
    assert not Environment.objects.exists()


def test_declarations_are_per_organization(org, other_org):
    mine, _, _ = declare(org)
    theirs, deployment, created = declare(other_org)

    assert created and theirs.pk != mine.pk
    assert deployment.environment.organization == other_org


# release_outcome_set ---------------------------------------------------------------------------


@pytest.mark.parametrize(("outcome", "history"), [("success", ["success"]), ("failure", ["success", "failure"])])
def test_the_outcome_is_set_on_the_release_and_its_production_deployment_at_its_date(org, outcome, history):
    release, _, _ = declare(org)

    release, deployment = release_outcome_set(organization=org, release=release, status=outcome)

    assert release.status == deployment.status == outcome
    assert deployment.finished_at == deployment.occurred_at == WHEN
    assert [change.status for change in deployment.status_changes.all()] == history
    assert Release.objects.get(pk=release.pk).status == outcome


def test_a_later_failure_makes_the_deployment_a_failed_change_at_its_date(org):
    release, _, _ = declare(org)
    release_outcome_set(organization=org, release=release, status="success")

    _, deployment = release_outcome_set(organization=org, release=release, status="failure")

    stored = Deployment.objects.get(pk=deployment.pk)
    assert (stored.status, stored.finished_at, stored.occurred_at) == ("failure", WHEN, WHEN)
    assert [(c.status, c.at) for c in deployment.status_changes.all()] == [("success", WHEN), ("failure", WHEN)]


def test_a_deployment_still_in_progress_finishes_when_its_outcome_arrives(org):
    release, _ = release_create(organization=org, version="2.0.0")
    deployment_record(
        organization=org, environment="production", release=release, status="in_progress", started_at=WHEN
    )

    _, deployment = release_outcome_set(organization=org, release=release, status="success")

    assert deployment.started_at == WHEN
    assert abs(deployment.finished_at - timezone.now()) < timedelta(minutes=1)


def test_the_latest_production_deployment_gets_the_outcome_not_other_environments(org):
    release, _ = release_create(organization=org, version="2.0.0")
    staging, _ = deployment_record(organization=org, environment="staging", release=release, status="in_progress")
    older, _ = deployment_record(
        organization=org, environment="production", release=release, status="in_progress", started_at=WHEN
    )
    latest, _ = deployment_record(organization=org, environment="production", release=release, status="in_progress")

    _, deployment = release_outcome_set(organization=org, release=release, status="failure")

    assert deployment.pk == latest.pk
    statuses = dict(Deployment.objects.filter(organization=org).values_list("pk", "status"))
    assert statuses == {staging.pk: "in_progress", older.pk: "in_progress", latest.pk: "failure"}


def test_a_release_created_elsewhere_gets_its_production_deployment_with_the_outcome(org):
    release = ReleaseFactory(organization=org, version="9.9.9")

    release, deployment = release_outcome_set(
        organization=org, release=release, status="success", source="echoes", created_by="token ci"
    )

    assert (deployment.release, deployment.environment.name, deployment.status) == (release, "production", "success")
    assert deployment.source == "echoes"


@pytest.mark.parametrize(("status", "message"), [(None, "this field is required"), ("pending", "must be either")])
def test_an_outcome_is_success_or_failure(org, status, message):
    release, _, _ = declare(org)

    with pytest.raises(DomainError) as refused:
        release_outcome_set(organization=org, release=release, status=status)

    assert refused.value.field == "status"
    assert refused.value.message.startswith(message)
    assert Release.objects.get(pk=release.pk).status == "pending"


def test_another_organizations_release_is_refused(org, other_org):
    release, _, _ = declare(other_org)

    with pytest.raises(DomainError):
        release_outcome_set(organization=org, release=release, status="success")

    assert Release.objects.get(pk=release.pk).status == "pending"
    assert not Deployment.objects.filter(organization=org).exists()


# The selector the outcome reads ----------------------------------------------------------------


def test_the_latest_production_deployment_is_none_without_one(org, other_org):
    release, _ = release_create(organization=org, version="3.0.0")
    deployment_record(organization=org, environment="staging", release=release)

    assert deployment_latest_production(organization=org, release=release) is None
    assert deployment_latest_production(organization=other_org, release=declare(org)[0]) is None
