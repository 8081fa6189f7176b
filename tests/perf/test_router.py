"""The read-replica router, with the ``replica`` alias mirroring the primary (tests/settings.py).

Both aliases reach the same database here, so what is checked is which connection each query
takes: the reads of GET requests the replica, writes and everything after a write the primary.
Tests commit their data (transaction=True) because the two aliases are two connections.
"""

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connections, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from releases.models import Release
from releasetracker.db_router import PRIMARY, REPLICA, PrimaryReplicaRouter, read_database, replica_reads
from releasetracker.models import ApiToken
from tests.factories import ReleaseFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=[PRIMARY, REPLICA])

WITH_REPLICA_MIDDLEWARE = override_settings(
    MIDDLEWARE=["releasetracker.db_router.ReplicaReadsMiddleware", *settings.MIDDLEWARE]
)
router = PrimaryReplicaRouter()


def tables(queries: CaptureQueriesContext) -> str:
    return "\n".join(query["sql"] for query in queries.captured_queries)


@pytest.fixture
def capture():
    """Queries per alias during the block: ``with capture() as (primary, replica): ...``."""

    class _Both:
        def __enter__(self):
            self.primary = CaptureQueriesContext(connections[PRIMARY]).__enter__()
            self.replica = CaptureQueriesContext(connections[REPLICA]).__enter__()
            return self.primary, self.replica

        def __exit__(self, *exc):
            self.replica.__exit__(*exc)
            self.primary.__exit__(*exc)

    return _Both


@WITH_REPLICA_MIDDLEWARE
def test_an_api_list_reads_its_rows_from_the_replica(read_api, org, capture):
    ReleaseFactory(organization=org, version="1.0.0")
    read_api.get("/api/v1/releases/")  # records the token's first use (a write) before measuring

    with capture() as (primary, replica):
        response = read_api.get("/api/v1/releases/")

    assert response.status_code == 200
    assert [r["version"] for r in response.json()["results"]] == ["1.0.0"]
    assert "releases_release" in tables(replica)
    assert "releases_release" not in tables(primary)
    # The token is identity: always read where revocations are written.
    assert "releasetracker_apitoken" in tables(primary)


@WITH_REPLICA_MIDDLEWARE
def test_a_page_reads_its_rows_from_the_replica(client, alice, org, capture):
    ReleaseFactory(organization=org, version="2.0.0")
    client.force_login(alice)

    with capture() as (primary, replica):
        response = client.get(f"/orgs/{org.slug}/releases/")

    assert response.status_code == 200
    assert b"2.0.0" in response.content
    assert "releases_release" in tables(replica)
    assert "django_session" in tables(primary)
    assert "django_session" not in tables(replica)


@WITH_REPLICA_MIDDLEWARE
def test_a_post_reads_and_writes_only_the_primary(api, capture):
    with capture() as (primary, replica):
        response = api.post("/api/v1/releases/", {"version": "3.0.0", "projects": ["web"]}, format="json")

    assert response.status_code == 201
    assert replica.captured_queries == []
    assert "INSERT INTO" in tables(primary)


def test_reads_after_a_write_in_the_same_request_use_the_primary(org):
    with replica_reads():
        assert router.db_for_read(Release) == REPLICA
        ReleaseFactory(organization=org, version="4.0.0")
        assert router.db_for_read(Release) == PRIMARY
        assert Release.objects.filter(version="4.0.0").db == PRIMARY
    with replica_reads():
        # A new request starts unpinned.
        assert router.db_for_read(Release) == REPLICA


def test_identity_reads_always_use_the_primary():
    with replica_reads():
        assert router.db_for_read(ApiToken) == PRIMARY
        assert router.db_for_read(Session) == PRIMARY
        assert read_database(ApiToken) == PRIMARY


def test_reads_inside_a_transaction_use_the_primary():
    with replica_reads(), transaction.atomic():
        assert router.db_for_read(Release) == PRIMARY


def test_reads_outside_a_get_request_use_the_primary(org):
    ReleaseFactory(organization=org, version="5.0.0")
    assert router.db_for_read(Release) is None
    assert Release.objects.filter(version="5.0.0").db == PRIMARY
    assert read_database(Release) == PRIMARY


def test_the_replica_is_never_migrated():
    assert router.allow_migrate(REPLICA, "releases") is False
    assert router.allow_migrate(PRIMARY, "releases") is None


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
@override_settings(DATABASES={PRIMARY: settings.DATABASES[PRIMARY]})
def test_without_a_replica_every_read_uses_the_primary():
    with replica_reads():
        assert read_database(Release) == PRIMARY
