"""Page fixtures: data built through the same services the API uses, and signed-in clients."""

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import caches
from django.test import Client

from deployments.models import DeploymentStatus
from deployments.services import deployment_change_status, deployment_record
from releases.models import Release, Source
from releases.services import CommitInput, release_create, repository_get_or_create

# Fixed times keep the day grouping and the date filters deterministic.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clear_cache():
    # Sign-in throttling counts failures in the cache; every test starts with none.
    caches["default"].clear()
    yield
    caches["default"].clear()


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob) -> Client:
    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture
def charlie_client(charlie) -> Client:
    client = Client()
    client.force_login(charlie)
    return client


def make_release(org, version: str, *, at: datetime, projects=("api",), commits: int = 2, **kwargs) -> Release:
    repository_get_or_create(organization=org, name="acme/api", url="https://github.com/acme/api")
    release, _ = release_create(
        organization=org,
        version=version,
        projects=list(projects),
        commits=[
            CommitInput(
                sha=hashlib.sha1(f"{version}-{i}".encode(), usedforsecurity=False).hexdigest(),
                repository="acme/api",
                message=f"Change {i} of {version}",
                author_name="Alice Martin",
                timestamp=at - timedelta(hours=i + 1),
            )
            for i in range(commits)
        ],
        source=Source.API,
        created_by="token ci (rt_abc)",
        **kwargs,
    )
    # Releases are created "now"; the timeline groups by creation day, so tests pin it.
    Release.objects.filter(pk=release.pk).update(created_at=at)
    release.refresh_from_db()
    return release


def deploy(org, release, environment: str, *, at: datetime, status: str = DeploymentStatus.SUCCESS, **kwargs):
    deployment, _ = deployment_record(
        organization=org,
        environment=environment,
        release=release,
        status=status,
        started_at=at - timedelta(minutes=5),
        finished_at=at if status in ("success", "failure", "canceled") else None,
        **kwargs,
    )
    return deployment


@pytest.fixture
def history(org):
    """Three releases over two days: 1.0.0 live in staging and production, 1.1.0 failed in production
    and 1.0.0 was deployed again, 1.2.0 (web) only in staging and still in progress."""
    r1 = make_release(org, "1.0.0", at=T0)
    r2 = make_release(org, "1.1.0", at=T0 + timedelta(hours=3), commits=3)
    r3 = make_release(org, "1.2.0", at=T0 + timedelta(days=1), projects=("web",), commits=1)
    deploy(org, r1, "staging", at=T0 + timedelta(minutes=10))
    deploy(org, r1, "production", at=T0 + timedelta(minutes=40))
    deploy(org, r2, "staging", at=T0 + timedelta(hours=3, minutes=10))
    failed = deploy(org, r2, "production", at=T0 + timedelta(hours=3, minutes=30), status=DeploymentStatus.IN_PROGRESS)
    deployment_change_status(
        organization=org, deployment=failed, status=DeploymentStatus.FAILURE, at=T0 + timedelta(hours=3, minutes=45)
    )
    deploy(org, r1, "production", at=T0 + timedelta(hours=4))
    deploy(org, r3, "staging", at=T0 + timedelta(days=1, minutes=5), status=DeploymentStatus.IN_PROGRESS)
    return {"r1": r1, "r2": r2, "r3": r3, "failed": failed}
