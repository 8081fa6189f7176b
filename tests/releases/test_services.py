"""Business rules of releases: creation, idempotency, commits, atomicity, updates."""

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from releases.models import Commit, Project, Release, ReleaseCommit, ReleaseRef, Repository
from releases.services import (
    CommitInput,
    RefInput,
    commits_upsert,
    release_add_commits,
    release_create,
    release_set_status,
    release_update,
)
from releasetracker.errors import Conflict, DomainError

SHA_A = "a" * 40
SHA_B = "b" * 40
SHA_C = "c" * 40


def sha(n: int) -> str:
    return f"{n:040x}"


def test_it_creates_a_release_with_projects_commits_and_refs(org):
    when = datetime(2024, 5, 1, 12, tzinfo=UTC)
    release, created = release_create(
        organization=org,
        version="1.4.0",
        projects=["api", "web"],
        commits=[
            CommitInput(sha=SHA_A.upper(), repository="acme/api", message="Fix login", author_name="Alice"),
            CommitInput(sha=SHA_B, timestamp=when, pr_number=42),
        ],
        name="Spring",
        ref="v1.4.0",
        url="https://ci.example.com/1",
        date_released=when,
        refs=[RefInput(repository="acme/api", commit=SHA_B, previous_commit=SHA_C)],
    )

    assert created is True
    assert release.version == "1.4.0"
    assert release.status == Release.Status.PENDING
    assert sorted(p.name for p in release.projects.all()) == ["api", "web"]
    commits = [rc.commit for rc in release.release_commits.order_by("position")]
    # Shas are stored in lower case, in the order they were sent.
    assert [c.sha for c in commits] == [SHA_A, SHA_B]
    assert commits[0].repository.name == "acme/api"
    assert commits[1].pr_number == 42 and commits[1].timestamp == when
    ref = ReleaseRef.objects.get(release=release)
    assert (ref.repository.name, ref.commit, ref.previous_commit) == ("acme/api", SHA_B, SHA_C)


def test_the_same_payload_again_returns_the_existing_release_and_adds_no_row(org):
    first, _ = release_create(organization=org, version="2.0", projects=["api"], commits=[CommitInput(sha=SHA_A)])
    # Order of list items does not matter for "the same payload".
    again, created = release_create(
        organization=org, version="2.0", projects=["api"], commits=[CommitInput(sha=SHA_A.upper())]
    )

    assert created is False
    assert again.pk == first.pk
    assert Release.objects.count() == 1
    assert Commit.objects.count() == 1
    assert ReleaseCommit.objects.count() == 1


def test_the_same_instant_with_another_offset_is_the_same_payload(org):
    utc = datetime(2024, 5, 1, 12, tzinfo=UTC)
    paris = utc.astimezone(timezone(timedelta(hours=2)))
    release_create(organization=org, version="2.1", date_released=utc)

    _, created = release_create(organization=org, version="2.1", date_released=paris)

    assert created is False


def test_the_same_version_with_another_payload_is_a_conflict_naming_the_fields(org):
    release_create(organization=org, version="3.0", projects=["api"], name="first", commits=[CommitInput(sha=SHA_A)])

    with pytest.raises(Conflict) as exc:
        release_create(
            organization=org, version="3.0", projects=["web"], name="second", commits=[CommitInput(sha=SHA_A)]
        )

    assert set(exc.value.fields) == {"projects", "name"}
    assert "projects" in str(exc.value) and "name" in str(exc.value)
    assert Release.objects.get().name == "first"


def test_one_invalid_commit_among_500_leaves_nothing_behind(org):
    commits = [CommitInput(sha=sha(i), repository="acme/api", message=f"change {i}") for i in range(499)]
    commits.append(CommitInput(sha="not-a-sha"))

    with pytest.raises(DomainError) as exc:
        release_create(organization=org, version="4.0", projects=["api"], commits=commits)

    assert exc.value.field == "commits.499.sha"
    assert Release.objects.count() == 0
    assert Commit.objects.count() == 0
    assert ReleaseCommit.objects.count() == 0
    assert Project.objects.count() == 0
    assert Repository.objects.count() == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"version": "  "}, "version"),
        ({"version": "x" * 201}, "version"),
        ({"version": "1\x00"}, "version"),
        ({"version": "1", "date_released": datetime(2024, 5, 1, 12)}, "date_released"),
        ({"version": "1", "date_released": datetime.now(UTC) + timedelta(days=3)}, "date_released"),
        ({"version": "1", "projects": [""]}, "projects.0"),
        ({"version": "1", "commits": [CommitInput(sha=SHA_A, timestamp=datetime(2024, 1, 1))]}, "commits.0.timestamp"),
        ({"version": "1", "commits": [CommitInput(sha=SHA_A, pr_number=-1)]}, "commits.0.pr_number"),
        ({"version": "1", "refs": [RefInput(repository="acme/api", commit="xyz")]}, "refs.0.commit"),
        ({"version": "1", "status": "shipped"}, "status"),
    ],
)
def test_it_refuses_invalid_input_naming_the_field(org, kwargs, field):
    with pytest.raises(DomainError) as exc:
        release_create(organization=org, **kwargs)

    assert exc.value.field == field
    assert Release.objects.count() == 0


def test_the_same_sha_twice_in_one_list_is_one_commit_keeping_the_message(org):
    release, _ = release_create(
        organization=org, version="5.0", commits=[CommitInput(sha=SHA_A), CommitInput(sha=SHA_A, message="Fix it")]
    )

    assert release.release_commits.count() == 1
    assert Commit.objects.get().message == "Fix it"


def test_a_known_commit_gains_the_details_it_lacked_and_keeps_the_ones_it_had(org):
    when = datetime(2024, 5, 1, tzinfo=UTC)
    commits_upsert(organization=org, commits=[CommitInput(sha=SHA_A, message="original")])

    commits_upsert(
        organization=org, commits=[CommitInput(sha=SHA_A, message="other", timestamp=when, repository="acme/api")]
    )

    commit = Commit.objects.get()
    assert commit.message == "original"
    assert commit.timestamp == when
    assert commit.repository.name == "acme/api"


def test_commits_are_unique_per_organization_not_globally(org, other_org):
    release_create(organization=org, version="1", commits=[CommitInput(sha=SHA_A)])
    release_create(organization=other_org, version="1", commits=[CommitInput(sha=SHA_A)])

    assert Commit.objects.filter(sha=SHA_A).count() == 2
    assert Release.objects.filter(version="1").count() == 2


def test_adding_commits_appends_them_after_the_existing_ones_and_ignores_repeats(org):
    release, _ = release_create(organization=org, version="6.0", commits=[CommitInput(sha=SHA_A)])

    release_add_commits(
        organization=org,
        release=release,
        commits=[CommitInput(sha=SHA_A), CommitInput(sha=SHA_B), CommitInput(sha=SHA_C)],
        refs=[RefInput(repository="acme/web", commit=SHA_C)],
    )

    ordered = [rc.commit.sha for rc in release.release_commits.order_by("position", "id")]
    assert ordered == [SHA_A, SHA_B, SHA_C]
    assert release.refs.get().repository.name == "acme/web"


def test_adding_an_invalid_commit_adds_none_of_them(org):
    release, _ = release_create(organization=org, version="6.1")

    with pytest.raises(DomainError) as exc:
        release_add_commits(organization=org, release=release, commits=[CommitInput(sha=SHA_A), CommitInput(sha="")])

    assert exc.value.field == "commits.1.sha"
    assert release.release_commits.count() == 0
    assert Commit.objects.count() == 0


def test_adding_commits_to_another_organizations_release_is_refused(org, other_org):
    theirs, _ = release_create(organization=other_org, version="7.0")

    with pytest.raises(DomainError):
        release_add_commits(organization=org, release=theirs, commits=[CommitInput(sha=SHA_A)])

    assert Commit.objects.count() == 0


def test_it_sets_the_status_and_changes_only_what_it_is_given(org):
    release, _ = release_create(organization=org, version="8.0", name="keep", url="https://ci.example.com/8")

    release_set_status(organization=org, release=release, status="failure")
    release_update(organization=org, release=release, name="renamed", projects=["api"])

    release.refresh_from_db()
    assert release.status == "failure"
    assert release.name == "renamed"
    assert release.url == "https://ci.example.com/8"
    assert [p.name for p in release.projects.all()] == ["api"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"status": "shipped"}, "status"),
        ({"version": "9.1"}, "version"),
        ({"date_released": datetime(2024, 5, 1)}, "date_released"),
        ({"name": "x" * 201}, "name"),
    ],
)
def test_an_update_refuses_invalid_changes(org, kwargs, field):
    release, _ = release_create(organization=org, version="9.0")

    with pytest.raises(DomainError) as exc:
        release_update(organization=org, release=release, **kwargs)

    assert exc.value.field == field
    release.refresh_from_db()
    assert (release.version, release.status, release.name) == ("9.0", "pending", "")


def _inserts_per_batch(model, count: int) -> int:
    """How many INSERT statements the backend needs for ``count`` rows (SQLite caps parameters per query)."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    batch = min(500, connection.ops.bulk_batch_size(fields, [None] * count))
    return math.ceil(count / batch)


def _create_with_commits(org, version: str, count: int, offset: int) -> list[str]:
    commits = [
        CommitInput(sha=sha(offset + i), repository="acme/api", message=f"change {i}", author_name="Alice")
        for i in range(count)
    ]
    with CaptureQueriesContext(connection) as ctx:
        release_create(organization=org, version=version, projects=["api"], commits=commits)
    return [q["sql"] for q in ctx.captured_queries]


def test_creating_a_release_takes_the_same_queries_for_20_or_200_commits(org):
    # Warm up: the project and repository then exist for both measured calls alike.
    _create_with_commits(org, "warm", 1, 10_000)

    small = _create_with_commits(org, "small", 20, 0)
    large = _create_with_commits(org, "large", 200, 1_000)

    # The only growth allowed is the database's own cap on parameters per INSERT (999 on
    # SQLite); on PostgreSQL the counts are equal.
    extra = (_inserts_per_batch(Commit, 200) - _inserts_per_batch(Commit, 20)) + (
        _inserts_per_batch(ReleaseCommit, 200) - _inserts_per_batch(ReleaseCommit, 20)
    )
    assert len(large) == len(small) + extra
    if connection.vendor == "postgresql":
        assert len(large) == len(small)
    # 17: the one rule for shas reads the near shas (in a savepoint), and storing commits looks
    # for the deployments without a release that named them and refreshes the commit time their
    # first deployments carry (one statement each, whatever the count).
    assert len(small) <= 17
