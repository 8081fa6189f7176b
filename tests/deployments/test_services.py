"""Business rules of deployments: attaching to releases, idempotency, times, history, rollbacks."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from deployments.models import Deployment, DeploymentStatusChange, Environment
from deployments.services import (
    deployment_change_status,
    deployment_record,
    deployment_update,
    environment_get_or_create,
    environment_update,
)
from releases.services import CommitInput, release_create
from releasetracker.errors import Conflict, DomainError

SHA_A = "a" * 40
SHA_B = "b" * 40


@pytest.fixture
def release(org):
    release, _ = release_create(organization=org, version="1.0.0", projects=["api"], commits=[CommitInput(sha=SHA_A)])
    return release


@pytest.mark.parametrize(
    ("name", "is_production"), [("production", True), ("prod", True), ("Production", True), ("staging", False)]
)
def test_production_and_prod_are_production_environments_by_default(org, name, is_production):
    assert environment_get_or_create(organization=org, name=name).is_production is is_production


def test_environment_names_are_unique_per_organization(org, other_org):
    first = environment_get_or_create(organization=org, name="staging")

    assert environment_get_or_create(organization=org, name=" staging ").pk == first.pk
    assert environment_get_or_create(organization=other_org, name="staging").pk != first.pk


def test_renaming_an_environment_to_a_taken_name_is_a_conflict(org):
    environment_get_or_create(organization=org, name="staging")
    qa = environment_get_or_create(organization=org, name="qa")

    with pytest.raises(Conflict) as exc:
        environment_update(organization=org, environment=qa, name="staging")

    assert exc.value.field == "name"
    qa.refresh_from_db()
    assert qa.name == "qa"


def test_the_production_flag_is_editable(org):
    env = environment_get_or_create(organization=org, name="production")

    environment_update(organization=org, environment=env, is_production=False)

    assert Environment.objects.get(pk=env.pk).is_production is False


def test_a_deployment_naming_a_version_attaches_to_that_release_and_its_only_project(org, release):
    deployment, created = deployment_record(organization=org, environment="staging", release="1.0.0")

    assert created is True
    assert deployment.release == release
    assert deployment.project.name == "api"
    assert deployment.environment.name == "staging"


def test_a_deployment_naming_only_a_sha_attaches_to_the_one_release_containing_it(org, release):
    deployment, _ = deployment_record(organization=org, environment="production", commit_sha=SHA_A.upper())

    assert deployment.release == release
    assert deployment.commit_sha == SHA_A


def test_an_abbreviated_sha_attaches_to_the_release_listing_the_full_sha(org, release):
    deployment, _ = deployment_record(organization=org, environment="production", commit_sha=SHA_A[:7])

    assert deployment.release == release
    assert deployment.project.name == "api"


def test_an_abbreviated_sha_matching_commits_of_two_releases_attaches_to_neither(org, release):
    release_create(organization=org, version="2.0", commits=[CommitInput(sha=SHA_A[:39] + "b")])

    deployment, _ = deployment_record(organization=org, environment="production", commit_sha=SHA_A[:12])

    assert deployment.release is None


def test_a_sha_in_two_releases_attaches_to_neither(org, release):
    release_create(organization=org, version="1.0.1", commits=[CommitInput(sha=SHA_A)])

    deployment, _ = deployment_record(organization=org, environment="production", commit_sha=SHA_A)

    assert deployment.release is None
    assert deployment.commit_sha == SHA_A


def test_an_unknown_sha_is_recorded_without_a_release(org):
    deployment, _ = deployment_record(organization=org, environment="production", commit_sha=SHA_B)

    assert deployment.release is None
    assert deployment.commit_sha == SHA_B


def test_another_organizations_release_is_never_attached(org, other_org):
    release_create(organization=other_org, version="9.9", commits=[CommitInput(sha=SHA_A)])

    with pytest.raises(DomainError) as exc:
        deployment_record(organization=org, environment="production", release="9.9")
    deployment, _ = deployment_record(organization=org, environment="production", commit_sha=SHA_A)

    assert exc.value.field == "release"
    assert deployment.release is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"release": "2.0"}, "release"),
        ({}, "release"),
        ({"commit_sha": "main"}, "commit_sha"),
        ({"commit_sha": SHA_A, "status": "succes"}, "status"),
        ({"commit_sha": SHA_A, "started_at": datetime(2024, 5, 1)}, "started_at"),
        ({"commit_sha": SHA_A, "tags": 5}, "tags"),
        ({"commit_sha": SHA_A, "duration_seconds": -1}, "duration_seconds"),
        ({"commit_sha": SHA_A, "external_id": "x" * 201}, "external_id"),
        (
            {
                "commit_sha": SHA_A,
                "started_at": datetime(2024, 5, 1, 12, tzinfo=UTC),
                "finished_at": datetime(2024, 5, 1, 11, tzinfo=UTC),
            },
            "finished_at",
        ),
    ],
)
def test_it_refuses_invalid_deployments_naming_the_field(org, kwargs, field):
    with pytest.raises(DomainError) as exc:
        deployment_record(organization=org, environment="production", **kwargs)

    assert exc.value.field == field
    assert Deployment.objects.count() == 0


def test_a_repeat_with_the_same_external_id_in_the_same_environment_is_the_same_deployment(org, release):
    first, _ = deployment_record(organization=org, environment="production", release="1.0.0", external_id="run-7")

    again, created = deployment_record(
        organization=org, environment="production", release="1.0.0", external_id="run-7", status="failure"
    )
    elsewhere, created_elsewhere = deployment_record(
        organization=org, environment="staging", release="1.0.0", external_id="run-7"
    )

    assert created is False and again.pk == first.pk and again.status == "success"
    assert created_elsewhere is True and elsewhere.pk != first.pk


def test_a_finished_deployment_defaults_its_finish_to_now_and_keeps_one_history_entry(org, release):
    before = timezone.now()
    deployment, _ = deployment_record(organization=org, environment="production", release="1.0.0")

    assert before <= deployment.finished_at <= timezone.now()
    assert deployment.occurred_at == deployment.finished_at
    assert [(c.status, c.at) for c in deployment.status_changes.all()] == [("success", deployment.finished_at)]


def test_a_running_deployment_has_a_start_but_no_finish(org, release):
    deployment, _ = deployment_record(organization=org, environment="production", release="1.0.0", status="in_progress")

    assert deployment.finished_at is None
    assert deployment.started_at is not None


def test_the_duration_is_computed_from_start_and_finish(org, release):
    start = datetime(2024, 5, 1, 12, tzinfo=UTC)
    deployment, _ = deployment_record(
        organization=org,
        environment="production",
        release="1.0.0",
        started_at=start,
        finished_at=start + timedelta(minutes=3),
    )

    assert deployment.duration_seconds == 180


def test_comma_separated_tags_set_the_matching_flags_and_are_kept(org, release):
    deployment, _ = deployment_record(
        organization=org, environment="production", release="1.0.0", tags="is_hotfix, is_failure,is_hotfix"
    )

    assert deployment.tags == ["is_hotfix", "is_failure"]
    assert deployment.is_hotfix is True
    assert deployment.is_fix is False


def test_a_status_change_is_kept_in_the_history_and_a_final_one_sets_the_finish(org, release):
    deployment, _ = deployment_record(organization=org, environment="production", release="1.0.0", status="in_progress")
    at = timezone.now()

    deployment_change_status(organization=org, deployment=deployment, status="failure", at=at)
    deployment_change_status(organization=org, deployment=deployment, status="failure")

    deployment.refresh_from_db()
    assert deployment.status == "failure"
    assert deployment.finished_at == at
    assert deployment.occurred_at == at
    assert [c.status for c in deployment.status_changes.all()] == ["in_progress", "failure"]


def test_a_status_change_refuses_a_naive_time_and_an_unknown_status(org, release):
    deployment, _ = deployment_record(organization=org, environment="production", release="1.0.0", status="queued")

    with pytest.raises(DomainError) as naive:
        deployment_update(organization=org, deployment=deployment, status="success", at=datetime(2024, 5, 1))
    with pytest.raises(DomainError) as unknown:
        deployment_update(organization=org, deployment=deployment, status="done")

    assert (naive.value.field, unknown.value.field) == ("at", "status")
    deployment.refresh_from_db()
    assert deployment.status == "queued"
    assert DeploymentStatusChange.objects.count() == 1


def test_updating_another_organizations_deployment_is_refused(org, other_org):
    theirs, _ = deployment_record(organization=other_org, environment="production", commit_sha=SHA_A)

    with pytest.raises(DomainError):
        deployment_update(organization=org, deployment=theirs, status="failure")

    theirs.refresh_from_db()
    assert theirs.status == "success"


def test_putting_back_an_earlier_release_is_marked_as_a_rollback(org, release):
    release_create(organization=org, version="1.1.0", projects=["api"])
    t0 = datetime.now(UTC) - timedelta(hours=3)

    deployment_record(organization=org, environment="production", release="1.0.0", finished_at=t0)
    newer, _ = deployment_record(
        organization=org, environment="production", release="1.1.0", finished_at=t0 + timedelta(hours=1)
    )
    back, _ = deployment_record(
        organization=org, environment="production", release="1.0.0", finished_at=t0 + timedelta(hours=2)
    )

    assert newer.is_rollback is False
    assert back.is_rollback is True
