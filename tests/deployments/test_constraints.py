"""A deployment's organization, environment, release and project agree, down to the database.

The services refuse another organization's rows on every database; on PostgreSQL the database
itself refuses them too (foreign keys on (organization, environment/release/project)), so no
code path, bulk write or admin action can store a deployment that points across organizations.
"""

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from deployments.models import Deployment
from deployments.services import deployment_record
from releasetracker.errors import DomainError
from tests.factories import EnvironmentFactory, ProjectFactory, ReleaseFactory

needs_postgresql = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="SQLite cannot add these constraints to an existing table"
)


def insert(**rows) -> None:
    """Insert a deployment with the database checking its keys at once (they are deferred to commit)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        Deployment.objects.create(status="success", occurred_at=timezone.now(), **rows)


@pytest.mark.parametrize("kind", ["environment", "release", "project"])
def test_the_service_refuses_another_organizations_row(org, other_org, kind):
    theirs = {
        "environment": EnvironmentFactory(organization=other_org),
        "release": ReleaseFactory(organization=other_org),
        "project": ProjectFactory(organization=other_org),
    }[kind]
    named = {"environment": "production", "commit_sha": "a" * 40, kind: theirs}

    with pytest.raises(DomainError) as refused:
        deployment_record(organization=org, **named)

    assert refused.value.field == kind
    assert not Deployment.objects.exists()


@needs_postgresql
def test_the_database_refuses_a_deployment_in_another_organizations_environment(org, other_org):
    with pytest.raises(IntegrityError, match="deployments_deployment_environment_same_org"):
        insert(organization=org, environment=EnvironmentFactory(organization=other_org))
    assert not Deployment.objects.exists()


@needs_postgresql
def test_the_database_refuses_a_deployment_of_another_organizations_release(org, other_org):
    with pytest.raises(IntegrityError, match="deployments_deployment_release_same_org"):
        insert(
            organization=org,
            environment=EnvironmentFactory(organization=org),
            release=ReleaseFactory(organization=other_org),
        )


@needs_postgresql
def test_the_database_refuses_a_deployment_of_another_organizations_project(org, other_org):
    with pytest.raises(IntegrityError, match="deployments_deployment_project_same_org"):
        insert(
            organization=org,
            environment=EnvironmentFactory(organization=org),
            project=ProjectFactory(organization=other_org),
        )


@needs_postgresql
def test_the_database_refuses_a_deployment_of_no_organization(org):
    with pytest.raises(IntegrityError):
        insert(organization_id=2**40, environment=EnvironmentFactory(organization=org))


@needs_postgresql
def test_the_organization_foreign_keys_exist_on_postgresql(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'deployments_deployment'::regclass AND contype = 'f'"
        )
        keys = dict(cursor.fetchall())
    definitions = set(keys.values())
    assert "FOREIGN KEY (organization_id) REFERENCES releasetracker_organization(id) DEFERRABLE INITIALLY DEFERRED" in (
        definitions
    )
    for column, table in [
        ("environment", "deployments_environment"),
        ("release", "releases_release"),
        ("project", "releases_project"),
    ]:
        assert keys[f"deployments_deployment_{column}_same_org"] == (
            f"FOREIGN KEY (organization_id, {column}_id) REFERENCES {table}(organization_id, id)"
            " DEFERRABLE INITIALLY DEFERRED"
        )


def test_a_deployment_in_its_own_organization_is_stored(org):
    deployment, created = deployment_record(
        organization=org,
        environment=EnvironmentFactory(organization=org, name="staging"),
        release=ReleaseFactory(organization=org),
        project=ProjectFactory(organization=org),
    )
    assert created
    assert Deployment.objects.get(pk=deployment.pk).organization_id == org.pk
