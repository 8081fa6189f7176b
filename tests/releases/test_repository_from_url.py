"""``repository_from_url``: the repository an entry point names by its URL (iftrue's repository_url)."""

import pytest

from releases.models import Repository
from releases.services import repository_from_url
from releasetracker.errors import DomainError
from tests.factories import RepositoryFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://github.com/acme/api", "acme/api"),
        ("https://github.com/acme/api.git", "acme/api"),
        ("https://gitlab.example.com/group/sub/api/", "group/sub/api"),
        (" https://github.com/acme/api ", "acme/api"),
        ("https://git.example.com", "git.example.com"),
    ],
)
def test_the_repository_is_named_by_the_urls_path(org, url, name):
    repository = repository_from_url(organization=org, url=url)

    assert repository.name == name
    assert repository.url == url.strip()


def test_the_same_url_again_is_the_same_repository(org):
    first = repository_from_url(organization=org, url="https://github.com/acme/api")

    assert repository_from_url(organization=org, url="https://github.com/acme/api.git").pk == first.pk
    assert Repository.objects.filter(organization=org).count() == 1


def test_a_repository_known_without_a_url_gains_it(org):
    known = RepositoryFactory(organization=org, name="acme/api", url="")

    repository = repository_from_url(organization=org, url="https://github.com/acme/api")

    assert repository.pk == known.pk
    assert Repository.objects.get(pk=known.pk).url == "https://github.com/acme/api"


def test_repositories_are_per_organization(org, other_org):
    mine = repository_from_url(organization=org, url="https://github.com/acme/api")

    assert repository_from_url(organization=other_org, url="https://github.com/acme/api").pk != mine.pk


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "this field is required"),
        ("https://github.com/" + "a" * 500, "must be at most 500 characters (got 519)"),
    ],
)
def test_a_missing_or_overlong_url_is_refused_naming_the_callers_field(org, url, message):
    with pytest.raises(DomainError) as refused:
        repository_from_url(organization=org, url=url, field_name="repo")

    assert (refused.value.field, refused.value.message) == ("repo", message)
    assert not Repository.objects.exists()
