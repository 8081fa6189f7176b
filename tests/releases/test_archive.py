"""Archiving a release (Sentry's status ``archived``): a mark that hides it from Sentry's lists only.

The native API shows archived releases (``archived_at``) and filters on them; the metrics do not
look at the mark at all.
"""

from datetime import UTC, datetime, timedelta

import pytest

from deployments.models import DeploymentStatus
from deployments.services import deployment_record
from releases.models import Release
from releases.services import CommitInput, release_create, release_update

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOW = {"since": "2026-03-01T00:00:00Z", "until": "2026-03-05T00:00:00Z"}


def shipped(org, version: str, *, at: datetime, status: str = DeploymentStatus.SUCCESS) -> Release:
    release, _ = release_create(
        organization=org,
        version=version,
        projects=["web"],
        commits=[CommitInput(sha=version.replace(".", "").ljust(40, "a"), timestamp=at - timedelta(hours=5))],
    )
    deployment_record(
        organization=org,
        environment="production",
        release=release,
        project="web",
        status=status,
        started_at=at - timedelta(minutes=5),
        finished_at=at,
    )
    return release


def test_archiving_sets_the_time_once_and_restoring_clears_it(org):
    release, _ = release_create(organization=org, version="1.0")

    release_update(organization=org, release=release, archived=True)
    first = Release.objects.get().archived_at
    release_update(organization=org, release=release, archived=True)

    assert first is not None and Release.objects.get().archived_at == first
    release_update(organization=org, release=release, archived=False)
    assert Release.objects.get().archived_at is None


def test_archiving_changes_no_dora_number(api, org):
    first = shipped(org, "1.0", at=T0)
    second = shipped(org, "1.1", at=T0 + timedelta(hours=2), status=DeploymentStatus.FAILURE)
    shipped(org, "1.2", at=T0 + timedelta(hours=4))
    before = api.get("/api/v1/metrics/dora/", WINDOW).json()

    for release in (first, second):
        assert api.patch(f"/api/v1/releases/{release.public_id}/", {"archived": True}, format="json").status_code == 200

    after = api.get("/api/v1/metrics/dora/", WINDOW).json()
    assert after == before
    assert after["deployment_frequency"]["count"] == 2
    assert after["change_failure_rate"]["failed"] == 1
    assert after["lead_time"]["commits"] == 2  # the failed deployment's commit is not shipped


def test_the_native_api_shows_archived_releases_and_filters_on_them(api, org):
    kept, _ = release_create(organization=org, version="1.0")
    archived, _ = release_create(organization=org, version="1.1")

    response = api.patch(f"/api/v1/releases/{archived.public_id}/", {"archived": True}, format="json")

    assert response.status_code == 200 and response.json()["archived_at"] is not None
    listed = {r["version"]: r["archived_at"] for r in api.get("/api/v1/releases/").json()["results"]}
    assert listed["1.0"] is None and listed["1.1"] is not None
    assert [r["version"] for r in api.get("/api/v1/releases/?archived=true").json()["results"]] == ["1.1"]
    assert [r["version"] for r in api.get("/api/v1/releases/?archived=false").json()["results"]] == ["1.0"]
    assert api.get(f"/api/v1/releases/{archived.public_id}/").json()["archived_at"] is not None

    restored = api.patch(f"/api/v1/releases/{archived.public_id}/", {"archived": False}, format="json")
    assert restored.json()["archived_at"] is None
    assert kept.archived_at is None


def test_archived_must_be_a_boolean(api, org):
    release, _ = release_create(organization=org, version="1.0")

    response = api.patch(f"/api/v1/releases/{release.public_id}/", {"archived": "later"}, format="json")

    assert response.status_code == 400 and response.json()["code"] == "validation_error"
    assert "archived" in response.json()["fields"]
    assert Release.objects.get().archived_at is None
