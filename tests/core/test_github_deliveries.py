"""A GitHub delivery is handled once: remembered with what it wrote, forgotten when it failed."""

import pytest

from releasetracker.errors import DomainError
from releasetracker.models import GitHubDelivery, Organization
from releasetracker.services import github_delivery_once

pytestmark = pytest.mark.django_db


def once(org, handle, delivery_id="d-1", action="published"):
    return github_delivery_once(
        organization=org, delivery_id=delivery_id, event="release", action=action, handle=handle
    )


def test_a_new_delivery_is_handled_and_remembered(org):
    assert once(org, lambda: "done") == (True, "done")

    remembered = GitHubDelivery.objects.get(organization=org)
    assert (remembered.delivery_id, remembered.event, remembered.action) == ("d-1", "release", "published")


def test_a_redelivery_is_not_handled_again(org):
    calls = []
    once(org, lambda: calls.append(1))

    assert once(org, lambda: calls.append(2)) == (False, None)
    assert calls == [1]


def test_a_delivery_whose_handling_fails_is_forgotten_with_what_it_wrote(org):
    def fails():
        Organization.objects.create(slug="written-then-undone", name="Undone")
        raise DomainError("must be a whole number", field="deployment.id")

    with pytest.raises(DomainError):
        once(org, fails)

    assert not GitHubDelivery.objects.exists()
    assert not Organization.objects.filter(slug="written-then-undone").exists()
    assert once(org, lambda: "fixed") == (True, "fixed")


def test_the_same_id_in_another_organization_is_another_delivery(org, other_org):
    once(org, lambda: "acme")

    assert once(other_org, lambda: "globex") == (True, "globex")


def test_an_action_longer_than_its_field_is_kept_to_the_fields_limit(org):
    limit = GitHubDelivery._meta.get_field("action").max_length

    once(org, lambda: None, action="x" * (limit + 50))

    assert GitHubDelivery.objects.get().action == "x" * limit
