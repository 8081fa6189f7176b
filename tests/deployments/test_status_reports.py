"""Deployments a source reports by its own id and git ref, with statuses in any order (GitHub's rules)."""

from datetime import UTC, datetime, timedelta

import pytest

from deployments.models import Deployment
from deployments.services import (
    HISTORY_ADDED,
    RECORDED,
    STATUS_SET,
    UNCHANGED,
    deployment_record_of_ref,
    deployment_status_report,
)
from releases.models import Commit
from releases.services import CommitInput, release_create
from releasetracker.errors import DomainError

pytestmark = pytest.mark.django_db

SHA = "a10867b14bb761a232cd80139fbd4c0d33264240"
WHEN = datetime(2024, 5, 2, 10, 30, tzinfo=UTC)
CREATED = WHEN - timedelta(minutes=1)  # when the source created the deployment
LOG = "https://ci.example.com/runs/1"


def of_ref(org, **overrides):
    arguments = {
        "organization": org,
        "environment": "production",
        "ref": "main",
        "commit_sha": SHA,
        "project": "hello-world",
        "external_id": "1283746501",
        "status": "pending",
    }
    return deployment_record_of_ref(**{**arguments, **overrides})


def report(org, status: str, at: datetime, **overrides):
    arguments = {
        "organization": org,
        "environment": "production",
        "external_id": "1283746501",
        "ref": "main",
        "commit_sha": SHA,
        "project": "hello-world",
    }
    return deployment_status_report(status=status, at=at, **{**arguments, **overrides})


def history(deployment: Deployment) -> list[tuple[str, datetime]]:
    return [(change.status, change.at) for change in deployment.status_changes.order_by("at", "id")]


# deployment_record_of_ref ----------------------------------------------------------------------


def test_a_ref_that_is_a_known_release_deploys_that_release_and_its_project(org):
    release_create(organization=org, version="v1.4.0", projects=["web"])

    deployment, created = of_ref(org, ref="v1.4.0")

    assert created
    assert (deployment.release.version, deployment.project.name, deployment.branch) == ("v1.4.0", "web", "")


def test_another_ref_is_the_branch_deployed_as_the_project(org):
    deployment, _ = of_ref(org, ref="refs/heads/feature/x")

    assert (deployment.release, deployment.project.name, deployment.branch) == (None, "hello-world", "feature/x")


def test_the_sha_still_finds_the_release_that_contains_it(org):
    release_create(organization=org, version="2.0.0", projects=["web"], commits=[CommitInput(sha=SHA)])

    deployment, _ = of_ref(org, ref="main")

    assert (deployment.release.version, deployment.project.name, deployment.branch) == ("2.0.0", "hello-world", "main")


def test_a_sha_no_commit_has_is_recorded_in_the_named_repository_when_the_source_created_it(org):
    url = "https://github.com/octo-org/hello-world"
    deployment, _ = of_ref(org, repository="octo-org/hello-world", repository_url=url, created_at=WHEN)

    commit = Commit.objects.select_related("repository").get(organization=org, sha=SHA)
    assert (commit.repository.name, commit.repository.url) == ("octo-org/hello-world", url)
    assert commit.created_at == deployment.created_at == deployment.occurred_at == WHEN


@pytest.mark.parametrize("ref", ["", SHA.upper()])
def test_a_deployment_of_the_sha_itself_has_no_branch(org, ref):
    deployment, _ = of_ref(org, ref=ref)

    assert deployment.branch == ""


@pytest.mark.parametrize(
    ("change", "field"),
    [({"project": ""}, "project"), ({"ref": "ma\x00in"}, "ref"), ({"commit_sha": "x"}, "commit_sha")],
)
def test_what_it_cannot_record_is_refused_naming_the_field(org, change, field):
    with pytest.raises(DomainError) as refused:
        of_ref(org, **change)

    assert refused.value.field == field
    assert not Deployment.objects.exists()


# deployment_status_report ----------------------------------------------------------------------


def test_statuses_move_the_deployment_at_the_sources_times(org):
    deployment, _ = of_ref(org, created_at=CREATED)

    started, done = report(org, "in_progress", WHEN), report(org, "success", WHEN + timedelta(minutes=3), url=LOG)

    assert [what for _, what in (started, done)] == [STATUS_SET, STATUS_SET]
    deployment = Deployment.objects.get(pk=deployment.pk)
    assert (deployment.status, deployment.started_at, deployment.finished_at) == (
        "success",
        WHEN,
        WHEN + timedelta(minutes=3),
    )
    assert (deployment.duration_seconds, deployment.url) == (180, LOG)
    assert history(deployment)[1:] == [("in_progress", WHEN), ("success", WHEN + timedelta(minutes=3))]


def test_a_status_older_than_the_outcome_only_takes_its_place_in_the_history(org):
    of_ref(org, created_at=CREATED)
    report(org, "success", WHEN + timedelta(minutes=3), url=LOG)

    deployment, what = report(org, "in_progress", WHEN, url="https://elsewhere.example.com")

    assert what == HISTORY_ADDED
    assert (deployment.status, deployment.url) == ("success", LOG)
    # It dates the start, which the success alone left unknown.
    assert (deployment.started_at, deployment.finished_at, deployment.duration_seconds) == (
        WHEN,
        WHEN + timedelta(minutes=3),
        180,
    )
    assert history(deployment) == [
        ("pending", CREATED),
        ("in_progress", WHEN),
        ("success", WHEN + timedelta(minutes=3)),
    ]


def test_a_repeated_status_changes_nothing(org):
    report(org, "in_progress", WHEN, created_at=CREATED)
    report(org, "success", WHEN + timedelta(minutes=3))

    deployment, what = report(org, "in_progress", WHEN)

    assert what == UNCHANGED
    assert [status for status, _ in history(deployment)] == ["pending", "in_progress", "success"]


def test_a_late_report_of_a_status_dates_its_start_earlier(org):
    # in_progress at WHEN+1 and WHEN, arriving in that order: one in_progress, from WHEN.
    report(org, "in_progress", WHEN + timedelta(minutes=1), created_at=CREATED)

    deployment, what = report(org, "in_progress", WHEN)

    assert what == HISTORY_ADDED
    assert deployment.started_at == WHEN
    assert history(deployment) == [("pending", CREATED), ("in_progress", WHEN)]


def test_a_status_of_the_same_second_as_the_outcome_does_not_undo_it(org):
    report(org, "success", WHEN, created_at=CREATED)

    deployment, what = report(org, "queued", WHEN)

    assert (what, deployment.status, deployment.finished_at) == (HISTORY_ADDED, "success", WHEN)
    assert sorted(history(deployment)) == [("pending", CREATED), ("queued", WHEN), ("success", WHEN)]


def test_a_later_status_still_moves_a_finished_deployment(org):
    of_ref(org, created_at=CREATED)
    report(org, "success", WHEN)

    deployment, what = report(org, "failure", WHEN + timedelta(hours=1))

    assert (what, deployment.status) == (STATUS_SET, "failure")


@pytest.mark.parametrize(
    ("status", "started", "finished"), [("success", None, WHEN), ("in_progress", WHEN, None), ("queued", None, None)]
)
def test_a_status_before_its_deployment_records_the_deployment_with_it(org, status, started, finished):
    created = WHEN - timedelta(seconds=30)
    deployment, what = report(org, status, WHEN, url=LOG, created_at=created)

    assert what == RECORDED
    assert (deployment.status, deployment.started_at, deployment.finished_at) == (status, started, finished)
    assert (deployment.external_id, deployment.url, deployment.branch) == ("1283746501", LOG, "main")
    # Recorded as the source created it, then moved by the status, as if they had come in order.
    assert (deployment.created_at, history(deployment)) == (created, [("pending", created), (status, WHEN)])
    # The deployment event, arriving after, finds it and changes nothing.
    again, created = of_ref(org)
    assert (again.pk, again.status, created) == (deployment.pk, status, False)


def test_the_id_names_a_deployment_in_its_environment_and_organization_only(org, other_org):
    of_ref(org, environment="staging")
    of_ref(other_org)

    deployment, what = report(org, "success", WHEN)

    assert what == RECORDED
    assert Deployment.objects.filter(organization=org).count() == 2
    assert Deployment.objects.get(organization=other_org).status == "pending"


@pytest.mark.parametrize("field", ["environment", "external_id"])
def test_an_environment_or_id_the_database_cannot_compare_is_refused_naming_it(org, field):
    with pytest.raises(DomainError) as refused:
        report(org, "success", WHEN, **{field: "bad\x00value"})

    assert refused.value.field == field
