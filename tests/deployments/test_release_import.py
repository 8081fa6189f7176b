"""Releases imported from history (git tags): created at their date, or kept and completed; deployed once."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from deployments.models import Deployment
from deployments.services import release_import
from releases.models import Commit, Release, ReleaseRef
from releases.services import CommitInput, release_create
from releasetracker.errors import DomainError

pytestmark = pytest.mark.django_db

HEAD, PREVIOUS, OTHER = "a" * 40, "b" * 40, "c" * 40
WHEN = datetime(2024, 3, 4, 14, tzinfo=UTC)


def imported(org, **overrides):
    arguments = {
        "organization": org,
        "version": "v1.1.0",
        "project": "web",
        "repository": "acme/web",
        "head": HEAD,
        "ref": "v1.1.0",
        "date": WHEN,
        "commits": [
            CommitInput(sha=HEAD, repository="acme/web", message="Add search", timestamp=WHEN - timedelta(hours=2)),
            CommitInput(sha=OTHER, repository="acme/web", message="Fix crash", timestamp=WHEN - timedelta(days=1)),
        ],
        "previous": PREVIOUS,
        "environment": "production",
        "external_id": "git-tag:v1.1.0",
        "title": "v1.1.0 (imported from git)",
        "source": "import",
        "created_by": "import_git",
    }
    return release_import(**{**arguments, **overrides})


def test_a_release_is_imported_at_its_date_with_its_commits_and_a_deployment(org):
    result = imported(org)

    assert (result.created, result.commits_linked, result.deployment_created) == (True, 2, True)
    release = Release.objects.get(pk=result.release.pk)
    assert (release.status, release.date_released, release.created_at, release.ref) == ("success", WHEN, WHEN, "v1.1.0")
    ref = ReleaseRef.objects.get(release=release)
    assert (ref.repository.name, ref.commit, ref.previous_commit) == ("acme/web", HEAD, PREVIOUS)
    assert {c.sha for c in release.commits.all()} == {HEAD, OTHER}
    deployment = Deployment.objects.select_related("environment", "project").get(organization=org)
    assert (deployment.status, deployment.occurred_at, deployment.commit_sha) == ("success", WHEN, HEAD)
    assert (deployment.environment.name, deployment.project.name, deployment.external_id) == (
        "production",
        "web",
        "git-tag:v1.1.0",
    )


def test_importing_it_again_changes_nothing(org):
    imported(org)
    rows = (
        list(Release.objects.values_list("pk", "updated_at")),
        list(Deployment.objects.values_list("pk", "updated_at")),
    )

    again = imported(org)

    assert (again.created, again.commits_linked, again.deployment_created) == (False, 0, False)
    assert (
        list(Release.objects.values_list("pk", "updated_at")),
        list(Deployment.objects.values_list("pk", "updated_at")),
    ) == rows


def test_a_release_ci_reported_is_kept_and_completed_but_not_redated(org):
    ci, _ = release_create(organization=org, version="v1.1.0", projects=["web"], commits=[CommitInput(sha=OTHER)])

    result = imported(org)

    assert (result.release.pk, result.created, result.commits_linked) == (ci.pk, False, 1)
    release = Release.objects.get(pk=ci.pk)
    assert (release.source, release.status, release.date_released) == ("api", "pending", None)
    assert {c.sha for c in release.commits.all()} == {HEAD, OTHER}
    assert Commit.objects.get(sha=OTHER).message == "Fix crash"  # sent bare by CI, detailed by git


def test_without_an_environment_no_deployment_is_recorded(org):
    result = imported(org, environment="")

    assert (result.created, result.deployment_created) == (True, False)
    assert not Deployment.objects.exists()


def test_a_release_the_tracker_cannot_take_writes_nothing(org):
    future = timezone.now() + timedelta(days=30)

    with pytest.raises(DomainError) as refused:
        imported(org, date=future)

    assert refused.value.field == "date_released"
    assert not Release.objects.exists()
    assert not Commit.objects.exists()
