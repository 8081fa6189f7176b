"""deployments 0008: what was stored before the one rule for shas is settled by it."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("deployments", "0007_deployment_rollback_detected")]
AFTER = [("deployments", "0008_merge_abbreviated_commits")]
FULL = "aaaa1111" + "2" * 32
OTHER = "bbbb2222" + "3" * 32


def at(day: int) -> datetime:
    return datetime(2024, 5, day, 12, tzinfo=UTC)


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture(autouse=True)
def latest_schema_after():
    """Whatever the test leaves, the next tests find every migration applied (the later ones too)."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_a_commit_stored_short_and_full_becomes_one_and_deployments_name_the_full_sha():
    apps = migrate(BEFORE)
    Organization = apps.get_model("releasetracker", "Organization")
    Environment = apps.get_model("deployments", "Environment")
    Deployment = apps.get_model("deployments", "Deployment")
    Commit = apps.get_model("releases", "Commit")
    Release = apps.get_model("releases", "Release")
    ReleaseCommit = apps.get_model("releases", "ReleaseCommit")
    org = Organization.objects.create(slug="acme", name="Acme")
    staging = Environment.objects.create(organization=org, name="staging")
    short = Commit.objects.create(organization=org, sha=FULL[:7], created_at=at(1))
    full = Commit.objects.create(organization=org, sha=FULL, created_at=at(3), message="Fix")
    Commit.objects.create(organization=org, sha=OTHER, created_at=at(1))
    both = Release.objects.create(organization=org, version="1.0.0")
    old = Release.objects.create(organization=org, version="0.9.0")
    for release, commit in ((both, short), (both, full), (old, short)):
        ReleaseCommit.objects.create(organization=org, release=release, commit=commit, position=0)
    for sha in (FULL[:7], OTHER[:9]):
        Deployment.objects.create(organization=org, environment=staging, commit_sha=sha, occurred_at=at(2))

    apps = migrate(AFTER)

    Commit = apps.get_model("releases", "Commit")
    ReleaseCommit = apps.get_model("releases", "ReleaseCommit")
    Deployment = apps.get_model("deployments", "Deployment")
    assert sorted(Commit.objects.values_list("sha", "created_at")) == [(FULL, at(1)), (OTHER, at(1))]
    assert sorted(ReleaseCommit.objects.values_list("release__version", "commit__sha")) == [
        ("0.9.0", FULL),
        ("1.0.0", FULL),
    ]
    assert sorted(Deployment.objects.values_list("commit_sha", flat=True)) == [FULL, OTHER]
