"""Release candidates (``X-rcN``): cut from a registered repository, unique per project, a build on request."""

import pytest

from releases.models import Release, ReleaseRef, Repository
from releases.selectors import release_candidate_get
from releases.services import (
    CommitInput,
    RefInput,
    release_candidate_create,
    release_candidate_version_clean,
    release_create,
    release_workflow_run_set,
)
from releasetracker import events
from releasetracker.errors import Conflict, DomainError, NotFound
from tests.factories import RepositoryFactory

pytestmark = pytest.mark.django_db

SHA = "0123456789abcdef0123456789abcdef01234567"
SHA2 = "fedcba9876543210fedcba9876543210fedcba98"


def cut(org, **overrides):
    arguments = {
        "organization": org,
        "project": "checkout",
        "version": "1.4.0-rc2",
        "repository": "acme/checkout",
        "commit": SHA,
        "source": "aviator",
        "created_by": "token ci",
    }
    return release_candidate_create(**{**arguments, **overrides})


@pytest.fixture
def builds():
    """The build_requested flag of each release.created event."""
    seen = []

    def receiver(sender, **rows):
        if sender == events.RELEASE_CREATED:
            seen.append(rows["build_requested"])

    events.changed.connect(receiver, weak=False)
    yield seen
    events.changed.disconnect(receiver)


@pytest.mark.parametrize("version", ["1.4.0-rc2", "2024.05.01-hotfix-rc10", " 1.0-rc1 "])
def test_a_release_candidate_version_ends_in_rc_and_a_number(version):
    assert release_candidate_version_clean(version) == version.strip()


@pytest.mark.parametrize("version", ["1.4.0", "1.4.0-rc", "1.4.0-rcX", "-rc1", "1.0-rc1x", "", None, 3, "a\x00-rc1"])
def test_anything_else_is_refused_naming_the_field(version):
    with pytest.raises(DomainError) as refused:
        release_candidate_version_clean(version, field="release_candidate_version")
    assert refused.value.field == "release_candidate_version"


def test_the_version_limit_is_the_release_versions():
    limit = Release._meta.get_field("version").max_length
    assert release_candidate_version_clean("1" * (limit - 4) + "-rc1")
    with pytest.raises(DomainError):
        release_candidate_version_clean("1" * (limit - 3) + "-rc1")


def test_a_candidate_is_a_release_of_its_project_at_its_commit(org, builds):
    candidate = cut(org, commit=f"  {SHA.upper()} ")

    assert candidate.created
    assert (candidate.project, candidate.version, candidate.repository, candidate.commit) == (
        "checkout",
        "1.4.0-rc2",
        "acme/checkout",
        SHA,
    )
    release = candidate.release
    # Stored under the project's name, named as the project calls it.
    assert (release.version, release.name) == ("checkout@1.4.0-rc2", "1.4.0-rc2")
    assert release.candidate_version("checkout") == "1.4.0-rc2"
    assert (release.source, release.created_by) == ("aviator", "token ci")
    assert [p.name for p in release.projects.all()] == ["checkout"]
    assert [rc.commit.sha for rc in release.release_commits.all()] == [SHA]
    ref = ReleaseRef.objects.get(release=release)
    assert (ref.repository.name, ref.commit) == ("acme/checkout", SHA)
    assert builds == [False]


def test_a_build_is_asked_for_a_new_candidate_only_when_requested(org, builds):
    cut(org, request_build=True)
    again = cut(org, request_build=True)

    assert not again.created
    assert builds == [True]


def test_the_same_candidate_again_is_the_same_release(org):
    first, again = cut(org), cut(org)

    assert (again.created, again.release.pk) == (False, first.release.pk)


def test_two_projects_cut_the_same_version_each_with_its_own_commit(org):
    checkout = cut(org)
    billing = cut(org, project="billing", commit=SHA2)  # one repository, two release projects

    assert checkout.created and billing.created
    assert checkout.release.pk != billing.release.pk
    assert (billing.release.version, billing.version) == ("billing@1.4.0-rc2", "1.4.0-rc2")
    assert [c.commit.sha for c in billing.release.release_commits.all()] == [SHA2]
    assert [c.commit.sha for c in checkout.release.release_commits.all()] == [SHA]
    assert cut(org, project="billing", commit=SHA2).release.pk == billing.release.pk


@pytest.mark.parametrize(
    ("change", "differing"),
    [
        ({"commit": SHA2}, {"commit"}),
        ({"repository": "acme/other"}, {"repository"}),
        ({"repository": "acme/other", "commit": SHA2}, {"repository", "commit"}),
    ],
)
def test_the_projects_version_cut_otherwise_is_a_conflict_naming_what_differs(org, change, differing):
    for name in ("acme/checkout", "acme/other"):
        RepositoryFactory(organization=org, name=name)
    cut(org)

    with pytest.raises(Conflict) as refused:
        cut(org, **change)

    assert refused.value.field == "version"
    assert "release candidate 1.4.0-rc2 of checkout already exists with a different" in refused.value.message
    assert set(refused.value.fields) == differing


def test_a_release_of_the_project_recorded_under_the_bare_version_is_its_candidate(org):
    """Recorded by another entry point, or cut before candidates were keyed by project."""
    bare, _ = release_create(
        organization=org, version="1.4.0-rc2", projects=["checkout"], commits=[CommitInput(sha=SHA)]
    )

    assert release_candidate_get(organization=org, project="checkout", version="1.4.0-rc2").pk == bare.pk
    with pytest.raises(Conflict) as refused:  # it names no repository
        cut(org)
    assert set(refused.value.fields) == {"repository"}
    assert cut(org, project="billing").release.version == "billing@1.4.0-rc2"


def test_a_candidate_cut_under_the_bare_version_is_the_same_cut_again(org):
    """What a cut stored before candidates were keyed by project: its repeat is that release."""
    legacy, _ = release_create(
        organization=org,
        version="1.4.0-rc2",
        projects=["checkout"],
        commits=[CommitInput(sha=SHA, repository="acme/checkout")],
        refs=[RefInput(repository="acme/checkout", commit=SHA)],
    )

    again = cut(org)

    assert (again.created, again.release.pk, again.version) == (False, legacy.pk, "1.4.0-rc2")
    assert Release.objects.filter(organization=org).count() == 1


def test_the_version_with_the_projects_name_must_fit_the_release_version(org):
    limit = Release._meta.get_field("version").max_length
    version = "1" * (limit - len("checkout@") - 4) + "-rc1"

    assert cut(org, version=version).release.version == f"checkout@{version}"
    with pytest.raises(DomainError) as refused:
        cut(org, version="1" + version)
    assert refused.value.field == "version"


@pytest.mark.parametrize(
    ("change", "field"), [({"commit": "xyz"}, "commit"), ({"repository": "a\x00/b"}, "repository")]
)
def test_a_bad_commit_or_repository_is_refused_naming_it(org, change, field):
    with pytest.raises(DomainError) as refused:
        cut(org, **change)

    assert refused.value.field == field
    assert not Release.objects.exists()


def test_an_organization_that_registered_repositories_cuts_from_those_only(org):
    RepositoryFactory(organization=org, name="acme/api")

    with pytest.raises(NotFound) as refused:
        cut(org, repository="acme/unknown")

    assert refused.value.field == "repository"
    assert not Release.objects.exists()
    assert cut(org, repository="acme/api").created


def test_without_registered_repositories_the_repository_is_created_on_first_use(org, other_org):
    RepositoryFactory(organization=other_org, name="globex/app")

    assert cut(org, repository="acme/new").created
    assert Repository.objects.filter(organization=org, name="acme/new").exists()


def test_a_candidate_is_found_by_its_project_and_version_in_its_organization_only(org, other_org):
    cut(org)
    cut(other_org, version="2.0.0-rc1")

    found = release_candidate_get(organization=org, project="checkout", version="1.4.0-rc2")
    assert found.version == "checkout@1.4.0-rc2"
    assert release_candidate_get(organization=org, project="billing", version="1.4.0-rc2") is None
    assert release_candidate_get(organization=org, project="checkout", version="2.0.0-rc1") is None


# The run that builds a candidate (Aviator's sync-build call) -----------------------------------


@pytest.mark.parametrize(("sent", "stored"), [("9876543210", 9876543210), (" 42 ", 42), (42, 42)])
def test_a_build_run_is_linked_by_its_id_as_a_number_or_its_digits(org, sent, stored):
    release = cut(org).release

    assert release_workflow_run_set(organization=org, release=release, workflow_run_id=sent).workflow_run_id == stored
    release.refresh_from_db()
    assert release.workflow_run_id == stored


@pytest.mark.parametrize("sent", [None, "", "abc", "-1", 0, -5, True, 1.5, "4" * 31, "٣", 2**63])
def test_anything_but_a_run_id_is_refused_naming_it(org, sent):
    release = cut(org).release

    with pytest.raises(DomainError) as refused:
        release_workflow_run_set(organization=org, release=release, workflow_run_id=sent)

    assert refused.value.field == "workflow_run_id"
    release.refresh_from_db()
    assert release.workflow_run_id is None


def test_the_latest_build_run_wins_and_only_in_its_organization(org, other_org):
    release = cut(org).release
    release_workflow_run_set(organization=org, release=release, workflow_run_id=1)
    release_workflow_run_set(organization=org, release=release, workflow_run_id=2)

    with pytest.raises(DomainError):
        release_workflow_run_set(organization=other_org, release=release, workflow_run_id=3)

    release.refresh_from_db()
    assert release.workflow_run_id == 2
