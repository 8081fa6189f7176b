"""Registering a repository completes it, whoever saw it first (``repository_get_or_create``).

A repository first seen by name alone (a commit's repository, a ref) has no URL and no
provider; ``sentry-cli set-commits --auto`` skips such a repository, so registering it later
must fill in what it lacks.
"""

import pytest

from releases.models import Repository
from releases.services import CommitInput, commits_record, release_create, repository_get_or_create
from releasetracker.errors import DomainError
from tests.factories import RepositoryFactory

pytestmark = pytest.mark.django_db


def test_a_repository_first_seen_in_a_commit_is_completed_by_its_registration(org):
    release_create(organization=org, version="1", commits=[CommitInput(sha="a" * 40, repository="acme/web")])
    first = Repository.objects.get(name="acme/web")
    assert (first.url, first.provider) == ("", "")

    registered = repository_get_or_create(
        organization=org, name="acme/web", url="https://github.com/acme/web", provider="github"
    )

    assert registered.pk == first.pk
    first.refresh_from_db()
    assert (first.url, first.provider) == ("https://github.com/acme/web", "github")


def test_what_a_repository_has_is_kept(org):
    RepositoryFactory(organization=org, name="acme/web", url="https://github.com/acme/web", provider="github")

    repository = repository_get_or_create(
        organization=org, name="acme/web", url="https://gitlab.com/acme/web", provider="gitlab"
    )

    assert (repository.url, repository.provider) == ("https://github.com/acme/web", "github")


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        ("https://github.com/acme/web", "github"),
        ("https://gitlab.com/acme/web", "gitlab"),
        ("https://bitbucket.org/acme/web", "bitbucket"),
        ("https://dev.azure.com/acme/web/_git/web", "vsts"),
        ("https://acme.visualstudio.com/web/_git/web", "vsts"),
        ("https://git.example.com/acme/web", ""),
    ],
)
def test_a_url_on_a_well_known_host_gives_the_provider(org, url, provider):
    assert repository_get_or_create(organization=org, name="acme/web", url=url).provider == provider


@pytest.mark.parametrize(
    ("provider", "url"),
    [("github", "https://github.com/acme/web"), ("GitLab", "https://gitlab.com/acme/web"), ("gitea", "")],
)
def test_a_well_known_provider_gives_the_url(org, provider, url):
    assert repository_get_or_create(organization=org, name="acme/web", provider=provider).url == url


def test_a_repository_known_by_url_gains_the_provider_it_names(org):
    RepositoryFactory(organization=org, name="acme/web", url="https://github.com/acme/web", provider="")

    assert repository_get_or_create(organization=org, name="acme/web").provider == "github"


def test_commits_naming_a_repository_do_not_invent_its_url(org):
    commits_record(organization=org, commits=[CommitInput(sha="b" * 40, repository="acme/web")])

    repository = Repository.objects.get(name="acme/web")
    assert (repository.url, repository.provider) == ("", "")


def test_a_provider_longer_than_the_field_is_refused(org):
    with pytest.raises(DomainError) as exc:
        repository_get_or_create(organization=org, name="acme/web", provider="x" * 51)
    assert exc.value.field == "repository.provider"
    assert not Repository.objects.exists()


# The native API: registering an existing repository answers 303 with it, completed ---------


def test_registering_a_repository_seen_in_a_commit_answers_303_and_completes_it(api, org):
    api.post(
        "/api/v1/releases/",
        {"version": "1", "commits": [{"sha": "c" * 40, "repository": "acme/web"}]},
        format="json",
    )

    response = api.post(
        "/api/v1/repositories/",
        {"name": "acme/web", "url": "https://github.com/acme/web", "provider": "github"},
        format="json",
    )

    assert response.status_code == 303
    assert (response.json()["url"], response.json()["provider"]) == ("https://github.com/acme/web", "github")
    assert api.get(response["Location"]).json()["provider"] == "github"
