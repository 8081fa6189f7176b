"""Sentry's release flow as services: a create that extends, commits from registered repositories,
and the release summaries they answer with."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deployments.selectors import release_summaries
from deployments.services import deployment_record, release_create_or_extend, release_extend
from releases.models import Commit, Release, ReleaseRef, Repository, Source
from releases.selectors import release_list
from releases.services import CommitInput, RefInput, release_create
from releasetracker.errors import DomainError
from tests.factories import OrganizationFactory, ReleaseFactory, RepositoryFactory

SHA_A = "a" * 40
SHA_B = "b" * 40
SHA_C = "c" * 40
WHEN = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def repo(org):
    return RepositoryFactory(organization=org, name="acme/web")


def create(org, **overrides):
    arguments = {"organization": org, "version": "1.0", "projects": ["web"], "source": Source.SENTRY}
    return release_create_or_extend(**{**arguments, **overrides})


# release_create_or_extend ---------------------------------------------------------------------


def test_a_new_version_is_created_with_everything_sent(org, repo):
    summary, created = create(
        org,
        commits=[CommitInput(sha=SHA_A, author_name="Dana", author_email="dana@example.com")],
        refs=[RefInput(repository="acme/web", commit=SHA_B, previous_commit=SHA_C)],
        url="https://ci.example/1",
        date_released=WHEN,
        created_by="sentry-cli token ci",
    )

    assert created
    release = summary.release
    assert (release.version, release.url, release.date_released, release.source) == (
        "1.0",
        "https://ci.example/1",
        WHEN,
        Source.SENTRY,
    )
    assert [p.name for p in release.projects_by_name] == ["web"]
    assert release.commit_count == 2
    assert summary.head_commit.sha == SHA_B
    assert summary.authors == [("Dana", "dana@example.com")]


def test_an_existing_version_gains_projects_commits_and_refs_and_keeps_the_rest(org, repo):
    create(org, url="https://a.example", commits=[CommitInput(sha=SHA_A)])

    summary, created = create(
        org,
        projects=["api"],
        url="https://b.example",
        commits=[CommitInput(sha=SHA_B)],
        refs=[RefInput(repository="acme/web", commit=SHA_C)],
    )

    assert not created
    release = summary.release
    assert release.url == "https://a.example"
    assert [p.name for p in release.projects_by_name] == ["api", "web"]
    assert [rc.commit.sha for rc in release.release_commits.order_by("position")] == [SHA_A, SHA_B, SHA_C]
    assert release.refs.get().commit == SHA_C
    assert Release.objects.count() == 1


def test_a_repeat_of_the_same_create_changes_nothing(org):
    create(org, commits=[CommitInput(sha=SHA_A)])

    summary, created = create(org, commits=[CommitInput(sha=SHA_A)])

    assert not created
    assert summary.release.commit_count == 1


def test_it_extends_a_release_created_through_another_api(org):
    release_create(organization=org, version="1.0", projects=["web"], name="from the native API")

    summary, created = create(org, projects=["api"])

    assert not created
    assert summary.release.name == "from the native API"
    assert [p.name for p in summary.release.projects_by_name] == ["api", "web"]


def test_a_ref_to_an_unregistered_repository_is_refused_and_nothing_is_stored(org, repo):
    with pytest.raises(DomainError) as refused:
        create(
            org, refs=[RefInput(repository="acme/nope", commit=SHA_A), RefInput(repository="acme/zzz", commit=SHA_B)]
        )

    assert refused.value.message == "Invalid repository names: acme/nope,acme/zzz"
    assert refused.value.status == 400
    assert not Release.objects.exists()
    assert list(Repository.objects.values_list("name", flat=True)) == ["acme/web"]


def test_a_git_remote_name_is_dropped_and_an_unknown_owner_repo_is_created(org, repo):
    summary, _ = create(
        org,
        commits=[
            CommitInput(sha=SHA_A, repository="origin"),
            CommitInput(sha=SHA_B, repository="acme/api"),
            CommitInput(sha=SHA_C, repository="acme/web"),
        ],
    )

    repositories = {c.sha: c.repository.name if c.repository else None for c in Commit.objects.all()}
    assert repositories == {SHA_A: None, SHA_B: "acme/api", SHA_C: "acme/web"}
    assert summary.release.commit_count == 3


def test_a_refs_head_commit_joins_the_release_once(org, repo):
    summary, _ = create(
        org,
        commits=[CommitInput(sha=SHA_A, message="listed too")],
        refs=[RefInput(repository="acme/web", commit=SHA_A, previous_commit=SHA_B)],
    )

    assert summary.release.commit_count == 1
    assert Commit.objects.get(sha=SHA_A).message == "listed too"
    ref = ReleaseRef.objects.get()
    assert (ref.commit, ref.previous_commit) == (SHA_A, SHA_B)


def test_an_extension_is_all_or_nothing(org):
    create(org)

    with pytest.raises(DomainError):
        create(org, projects=["api"], commits=[CommitInput(sha=SHA_A), CommitInput(sha=SHA_B, message=7)])

    release = Release.objects.get()
    assert [p.name for p in release.projects.all()] == ["web"]
    assert not Commit.objects.exists()


@pytest.mark.parametrize("version", [None, "", "   "])
def test_a_version_is_required(org, version):
    with pytest.raises(DomainError) as refused:
        create(org, version=version)
    assert str(refused.value) == "version: this field is required"


def test_versions_are_per_organization(org, other_org):
    ReleaseFactory(organization=other_org, version="1.0")

    _, created = create(org)

    assert created
    assert Release.objects.filter(version="1.0").count() == 2


# release_extend -------------------------------------------------------------------------------


def test_extend_finalizes_a_release_and_adds_what_set_commits_sends(org, repo):
    summary, _ = create(org)

    summary = release_extend(
        organization=org,
        release=summary.release,
        date_released=WHEN,
        url="https://ci.example/9",
        projects=["api"],
        refs=[RefInput(repository="acme/web", commit=SHA_A)],
    )

    release = Release.objects.get()
    assert (release.date_released, release.url) == (WHEN, "https://ci.example/9")
    assert [p.name for p in summary.release.projects_by_name] == ["api", "web"]
    assert (summary.head_commit.sha, summary.release.commit_count) == (SHA_A, 1)


def test_extend_follows_the_repository_rules_too(org, repo):
    release = ReleaseFactory(organization=org, version="1.0")

    with pytest.raises(DomainError, match="Invalid repository names: acme/nope"):
        release_extend(organization=org, release=release, url="https://x.example", refs=[RefInput("acme/nope", SHA_A)])

    release.refresh_from_db()
    assert release.url == ""


def test_archived_archives_and_restores_and_keeps_the_rest(org):
    summary, _ = create(org, url="https://ci.example/1")

    archived, created = create(org, projects=[], archived=True)
    assert created is False and archived.release.archived_at is not None
    assert archived.release.url == "https://ci.example/1"

    restored = release_extend(organization=org, release=archived.release, archived=False)
    assert restored.release.archived_at is None
    assert Release.objects.get().archived_at is None


def test_a_new_version_sent_archived_is_created_archived(org):
    summary, created = create(org, archived=True)

    assert created is True and summary.release.archived_at is not None


def test_an_extension_that_fails_does_not_archive(org, repo):
    summary, _ = create(org)

    with pytest.raises(DomainError):
        release_extend(organization=org, release=summary.release, archived=True, refs=[RefInput("acme/nope", SHA_A)])

    assert Release.objects.get().archived_at is None


def test_extend_refuses_another_organizations_release(org, other_org):
    theirs = ReleaseFactory(organization=other_org, version="1.0")

    with pytest.raises(DomainError):
        release_extend(organization=org, release=theirs, url="https://x.example")


def test_extend_answers_with_the_releases_deployments(org):
    summary, _ = create(org)
    deployment_record(organization=org, environment="staging", release=summary.release, finished_at=WHEN)
    latest, _ = deployment_record(organization=org, environment="production", release=summary.release)

    summary = release_extend(organization=org, release=summary.release, date_released=WHEN)

    assert summary.deploy_count == 2
    assert summary.latest_deployment == latest
    assert summary.latest_deployment.environment.name == "production"


# release_summaries -----------------------------------------------------------------------------


def summarize(org):
    return release_summaries(organization=org, releases=list(release_list(organization=org)))


def test_a_summary_of_a_release_without_anything_is_empty(org):
    ReleaseFactory(organization=org, version="1.0")

    (summary,) = summarize(org)

    assert (summary.deploy_count, summary.latest_deployment, summary.head_commit, summary.head_sha) == (
        0,
        None,
        None,
        "",
    )
    assert summary.authors == []


def test_the_head_is_the_refs_commit_wherever_the_organization_has_it(org, repo):
    # A native release's ref does not add its head commit; another release has that commit.
    release_create(organization=org, version="0.9", commits=[CommitInput(sha=SHA_B, message="head")])
    release_create(
        organization=org, version="1.0", commits=[CommitInput(sha=SHA_A)], refs=[RefInput("acme/web", SHA_B)]
    )

    summaries = {s.release.version: s for s in summarize(org)}

    assert summaries["1.0"].head_commit.message == "head"


def test_the_head_is_the_first_commit_without_a_ref_and_a_bare_sha_without_a_commit(org, repo):
    release_create(organization=org, version="1.0", commits=[CommitInput(sha=SHA_A), CommitInput(sha=SHA_B)])
    release_create(organization=org, version="2.0", refs=[RefInput("acme/web", SHA_C)])

    summaries = {s.release.version: s for s in summarize(org)}

    assert summaries["1.0"].head_commit.sha == SHA_A
    assert (summaries["2.0"].head_commit, summaries["2.0"].head_sha) == (None, SHA_C)


def test_authors_are_distinct_and_sorted(org):
    release_create(
        organization=org,
        version="1.0",
        commits=[
            CommitInput(sha=SHA_A, author_name="Zoe"),
            CommitInput(sha=SHA_B, author_name="Dana", author_email="dana@example.com"),
            CommitInput(sha=SHA_C, author_name="Zoe"),
            CommitInput(sha="d" * 40),
        ],
    )

    (summary,) = summarize(org)

    assert summary.authors == [("Dana", "dana@example.com"), ("Zoe", "")]


def test_the_latest_deployment_is_by_time_and_counts_are_per_release(org):
    one = ReleaseFactory(organization=org, version="1.0")
    two = ReleaseFactory(organization=org, version="2.0")
    now = timezone.now()
    for hours, environment in ((3, "production"), (1, "staging"), (2, "qa")):
        deployment_record(
            organization=org, environment=environment, release=one, finished_at=now - timedelta(hours=hours)
        )
    deployment_record(organization=org, environment="production", release=two)

    summaries = {s.release.version: s for s in summarize(org)}

    assert (summaries["1.0"].deploy_count, summaries["1.0"].latest_deployment.environment.name) == (3, "staging")
    assert summaries["2.0"].deploy_count == 1


def test_summaries_take_the_same_queries_for_one_release_or_many(org, repo):
    def queries(count: int) -> int:
        Release.objects.all().delete()
        for n in range(count):
            release, _ = release_create(
                organization=org,
                version=f"1.{n}",
                projects=["web"],
                commits=[CommitInput(sha=f"{n:040x}", author_name=f"A{n}")],
                refs=[RefInput("acme/web", f"{n:040x}")],
            )
            deployment_record(organization=org, environment="production", release=release)
        rows = list(release_list(organization=org))
        with CaptureQueriesContext(connection) as captured:
            release_summaries(organization=org, releases=rows)
        return len(captured.captured_queries)

    assert queries(1) == queries(12)


def test_summaries_read_only_their_organizations_rows(org):
    other = OrganizationFactory(slug="globex")
    mine = ReleaseFactory(organization=org, version="1.0")
    deployment_record(organization=other, environment="production", commit_sha=SHA_A)

    (summary,) = release_summaries(organization=org, releases=list(release_list(organization=org)))

    assert summary.release == mine and summary.deploy_count == 0


# A race: two creates of one version at once -----------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_creates_of_one_version_at_once_make_one_release_with_every_project():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serializes every write; races need PostgreSQL (set DATABASE_URL)")
    org = OrganizationFactory(slug="acme")
    projects = [f"project-{n}" for n in range(8)]
    barrier = threading.Barrier(len(projects))
    answers, errors = [], []

    def one(project: str) -> None:
        try:
            barrier.wait(timeout=30)
            answers.append(create(org, projects=[project])[1])
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one, args=(project,)) for project in projects]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert sorted(answers) == [False] * (len(projects) - 1) + [True]
    assert sorted(p.name for p in Release.objects.get().projects.all()) == projects
