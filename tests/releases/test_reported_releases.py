"""Releases and commits reported after the fact (a GitHub release or push, a git import): the first report wins."""

from datetime import UTC, datetime

import pytest

from releases.models import Commit, Release, Repository
from releases.services import (
    CommitInput,
    release_commits_complete,
    release_create,
    release_create_or_keep,
    release_publish,
    repository_commits_record,
)
from releasetracker.errors import DomainError

pytestmark = pytest.mark.django_db

SHA_A, SHA_B, SHA_C = "a" * 40, "b" * 40, "c" * 40
WHEN = datetime(2024, 5, 2, 10, 30, tzinfo=UTC)
URL = "https://github.com/octo-org/hello-world/releases/tag/v1.4.0"


def shas(release: Release) -> list[str]:
    return [link.commit.sha for link in release.release_commits.order_by("position")]


def ci_release(org, **fields):
    """What CI reported first: the release with its commits, undated."""
    return release_create(organization=org, version="v1.4.0", projects=["hello"], **fields)[0]


# release_create_or_keep ------------------------------------------------------------------------


def test_a_new_version_is_created(org):
    release, created = release_create_or_keep(organization=org, version="v1.4.0", projects=["web"])

    assert created
    assert [p.name for p in release.projects.all()] == ["web"]


def test_a_version_reported_with_another_payload_is_kept_as_it_is(org):
    first = ci_release(org, commits=[CommitInput(sha=SHA_A)])

    kept, created = release_create_or_keep(organization=org, version=" v1.4.0 ", projects=["web"], name="Other")

    assert (kept.pk, created) == (first.pk, False)
    assert (kept.name, [p.name for p in kept.projects.all()], shas(kept)) == ("", ["hello"], [SHA_A])


def test_other_faults_are_still_refused(org):
    with pytest.raises(DomainError) as refused:
        release_create_or_keep(organization=org, version="v1.4.0", commits=[CommitInput(sha="nope")])

    assert refused.value.field == "commits.0.sha"


# release_publish -------------------------------------------------------------------------------


def test_a_published_release_is_recorded_as_a_success(org):
    release, created, filled = release_publish(
        organization=org, version="v1.4.0", project="hello-world", name="Hello", url=URL, date_released=WHEN
    )

    assert (created, filled) == (True, [])
    assert (release.status, release.url, release.date_released, release.name) == ("success", URL, WHEN, "Hello")
    assert [p.name for p in release.projects.all()] == ["hello-world"]


def test_a_release_reported_first_by_ci_gains_only_the_url_and_date_it_lacked(org):
    ci_release(org, commits=[CommitInput(sha=SHA_A)])

    release, created, filled = release_publish(
        organization=org, version="v1.4.0", project="hello-world", name="Hello", url=URL, date_released=WHEN
    )

    assert (created, filled) == (False, ["url", "date_released"])
    release = Release.objects.get(pk=release.pk)
    assert (release.url, release.date_released, release.name, release.status) == (URL, WHEN, "", "pending")
    assert ([p.name for p in release.projects.all()], shas(release)) == (["hello"], [SHA_A])


def test_what_the_recorded_release_has_is_not_overwritten(org):
    ci_release(org, url="https://ci.example.com/v1.4.0", date_released=datetime(2024, 5, 1, tzinfo=UTC))

    release, _, filled = release_publish(
        organization=org, version="v1.4.0", project="hello-world", url=URL, date_released=WHEN
    )

    assert filled == []
    assert (release.url, release.date_released) == ("https://ci.example.com/v1.4.0", datetime(2024, 5, 1, tzinfo=UTC))


# release_commits_complete ----------------------------------------------------------------------


def test_the_commits_a_release_lacks_are_appended_after_its_own(org):
    release = ci_release(org, commits=[CommitInput(sha=SHA_B)])

    appended = release_commits_complete(
        organization=org,
        release=release,
        commits=[CommitInput(sha=SHA_A), CommitInput(sha=SHA_B), CommitInput(sha=SHA_C)],
    )

    assert appended == 2
    assert shas(release) == [SHA_B, SHA_A, SHA_C]


def test_the_commits_it_lists_gain_the_details_they_lacked(org):
    release = ci_release(org, commits=[CommitInput(sha=SHA_A)])

    appended = release_commits_complete(
        organization=org,
        release=release,
        commits=[CommitInput(sha=SHA_A.upper(), message="Fix", author_name="Mona", timestamp=WHEN)],
    )

    assert appended == 0
    commit = Commit.objects.get(organization=org, sha=SHA_A)
    assert (commit.message, commit.author_name, commit.timestamp) == ("Fix", "Mona", WHEN)


def test_nothing_changes_when_the_release_lists_them_all_complete(org):
    commits = [CommitInput(sha=SHA_A, message="Fix", timestamp=WHEN)]
    release = ci_release(org, commits=commits)
    before = Release.objects.get(pk=release.pk).updated_at, Commit.objects.get(sha=SHA_A).updated_at

    assert release_commits_complete(organization=org, release=release, commits=commits) == 0
    assert (Release.objects.get(pk=release.pk).updated_at, Commit.objects.get(sha=SHA_A).updated_at) == before


# repository_commits_record ---------------------------------------------------------------------


def test_pushed_commits_are_recorded_in_their_repository_with_its_url(org):
    bare = [CommitInput(sha=SHA_A)]
    release_create(organization=org, version="1.0.0", commits=bare)

    stored = repository_commits_record(
        organization=org,
        repository="octo-org/hello-world",
        url="https://github.com/octo-org/hello-world",
        provider="github",
        commits=[
            CommitInput(sha=SHA_A, repository="octo-org/hello-world", timestamp=WHEN),
            CommitInput(sha=SHA_B, repository="octo-org/hello-world", author_name="Mona"),
        ],
    )

    assert [c.sha for c in stored] == [SHA_A, SHA_B]
    repository = Repository.objects.get(organization=org)
    assert (repository.name, repository.url, repository.provider) == (
        "octo-org/hello-world",
        "https://github.com/octo-org/hello-world",
        "github",
    )
    assert Commit.objects.get(sha=SHA_A).timestamp == WHEN  # first seen bare, now with its time
    assert all(c.repository_id == repository.pk for c in Commit.objects.filter(organization=org))


def test_a_push_with_a_bad_commit_records_nothing(org):
    with pytest.raises(DomainError):
        repository_commits_record(organization=org, repository="octo-org/hello-world", commits=[CommitInput(sha="zzz")])

    assert not Repository.objects.exists()
    assert not Commit.objects.exists()
