"""Shared cast: Alice owns ``org`` (admin), Bob is a viewer of it, Charlie belongs to ``other_org``."""

import ipaddress
import socket

import pytest
from rest_framework.test import APIClient

from tests.factories import MembershipFactory, OrganizationFactory, UserFactory, issue_token

_getaddrinfo = socket.getaddrinfo
LOCAL_NAMES = {"localhost", "testserver"}


def _local_getaddrinfo(host, *args, **kwargs):
    """Name lookups stay on this machine: an address or a local name, never a DNS query.

    A test that saves ``https://ci.example.com/...`` sees what a machine without DNS sees (the
    name does not resolve) instead of asking the network.
    """
    name = host.decode() if isinstance(host, bytes) else host
    if name is not None and name not in LOCAL_NAMES and not _numeric(str(name)):
        raise socket.gaierror(socket.EAI_NONAME, f"tests do not look up {name!r}")
    return _getaddrinfo(host, *args, **kwargs)


def _numeric(name: str) -> bool:
    """An address in any form the system reads without DNS (``127.0.0.1``, ``::1``, ``2130706433``)."""
    try:
        ipaddress.ip_address(name.split("%")[0])
        return True
    except ValueError:
        pass
    try:
        socket.inet_aton(name)
        return True
    except OSError:
        return False


@pytest.fixture(autouse=True, scope="session")
def no_dns_lookups():
    socket.getaddrinfo = _local_getaddrinfo
    yield
    socket.getaddrinfo = _getaddrinfo


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
