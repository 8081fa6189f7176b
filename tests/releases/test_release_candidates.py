"""Release candidates (``X-rcN``): cut from a registered repository, unique, a build asked for on request."""

import pytest

from releases.models import Release, ReleaseRef, Repository
from releases.selectors import release_candidate_get
from releases.services import release_candidate_create, release_candidate_version_clean
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
    assert (candidate.project, candidate.repository, candidate.commit) == ("checkout", "acme/checkout", SHA)
    release = candidate.release
    assert (release.version, release.source, release.created_by) == ("1.4.0-rc2", "aviator", "token ci")
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


@pytest.mark.parametrize("change", [{"commit": SHA2}, {"repository": "acme/other"}, {"project": "billing"}])
def test_the_same_version_cut_otherwise_is_a_conflict(org, change):
    for name in ("acme/checkout", "acme/other"):
        RepositoryFactory(organization=org, name=name)
    cut(org)

    with pytest.raises(Conflict) as refused:
        cut(org, **change)

    assert refused.value.field == "version"
    assert "release candidate 1.4.0-rc2 already exists" in refused.value.message
    assert set(refused.value.fields) == {"project", "repository", "commit"}


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

    assert release_candidate_get(organization=org, project="checkout", version="1.4.0-rc2").version == "1.4.0-rc2"
    assert release_candidate_get(organization=org, project="billing", version="1.4.0-rc2") is None
    assert release_candidate_get(organization=org, project="checkout", version="2.0.0-rc1") is None
