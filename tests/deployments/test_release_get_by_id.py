"""``release_get_by_id``: the read behind vendor URLs that name a release by its id."""

import pytest

from deployments.selectors import release_get_by_id
from tests.factories import ReleaseFactory

pytestmark = pytest.mark.django_db


def test_it_finds_the_organizations_release_by_its_public_id(org):
    release = ReleaseFactory(organization=org, version="1.0.0")

    assert release_get_by_id(organization=org, public_id=str(release.public_id)) == release


@pytest.mark.parametrize("key", ["1.0.0", "not-a-uuid", "00000000-0000-0000-0000-000000000000", ""])
def test_a_version_a_malformed_id_or_an_unknown_id_finds_nothing(org, key):
    ReleaseFactory(organization=org, version="1.0.0")

    assert release_get_by_id(organization=org, public_id=key) is None


def test_another_organizations_release_is_not_found(org, other_org):
    theirs = ReleaseFactory(organization=other_org)

    assert release_get_by_id(organization=org, public_id=str(theirs.public_id)) is None
