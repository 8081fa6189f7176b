"""Shared cast: Alice owns ``org`` (admin), Bob is a viewer of it, Charlie belongs to ``other_org``."""

import pytest
from rest_framework.test import APIClient

from tests.factories import MembershipFactory, OrganizationFactory, UserFactory, issue_token


@pytest.fixture
def org(db):
    return OrganizationFactory(slug="acme", name="Acme")


@pytest.fixture
def other_org(db):
    return OrganizationFactory(slug="globex", name="Globex")


@pytest.fixture
def alice(org):
    user = UserFactory(username="alice")
    MembershipFactory(user=user, organization=org, role="admin")
    return user


@pytest.fixture
def bob(org):
    user = UserFactory(username="bob")
    MembershipFactory(user=user, organization=org, role="viewer")
    return user


@pytest.fixture
def charlie(other_org):
    user = UserFactory(username="charlie")
    MembershipFactory(user=user, organization=other_org, role="admin")
    return user


def _client(clear: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    return client


@pytest.fixture
def write_token(org):
    return issue_token(org, scopes=["write"], name="ci-write")


@pytest.fixture
def api(write_token):
    """A client with a write token of ``org``."""
    client = _client(write_token[1])
    client.token = write_token[0]
    return client


@pytest.fixture
def read_api(org):
    token, clear = issue_token(org, scopes=["read"], name="ci-read")
    client = _client(clear)
    client.token = token
    return client


@pytest.fixture
def other_api(other_org):
    """A client with a write token of ``other_org``: it must see nothing of ``org``."""
    token, clear = issue_token(other_org, scopes=["write"], name="other-ci")
    client = _client(clear)
    client.token = token
    return client
