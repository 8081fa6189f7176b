"""An incident's organization, environment and project agree, down to the database on PostgreSQL
(foreign keys on (organization, environment/project)); the services refuse them everywhere."""

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction

from incidents.models import Incident
from incidents.services import incident_create, incident_update
from releasetracker.errors import DomainError
from tests.factories import EnvironmentFactory, ProjectFactory

T0 = datetime(2026, 10, 12, 9, 0, tzinfo=UTC)
needs_postgresql = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="SQLite cannot add these constraints to an existing table"
)


def insert(**rows) -> None:
    """Insert an incident with the database checking its keys at once (they are deferred to commit)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        Incident.objects.create(title="x", started_at=T0, **rows)


@pytest.mark.parametrize("kind", ["environment", "project"])
def test_the_services_refuse_another_organizations_row(org, other_org, kind):
    theirs = (
        EnvironmentFactory(organization=other_org) if kind == "environment" else ProjectFactory(organization=other_org)
    )
    with pytest.raises(DomainError) as refused:
        incident_create(organization=org, title="x", started_at=T0, **{kind: theirs})
    assert refused.value.field == kind

    mine, _ = incident_create(organization=org, title="y", started_at=T0)
    with pytest.raises(DomainError):
        incident_update(organization=org, incident=mine, **{kind: theirs})
    mine.refresh_from_db()
    assert mine.environment.organization_id == org.pk and mine.project is None


@needs_postgresql
def test_the_database_refuses_an_incident_in_another_organizations_environment(org, other_org):
    with pytest.raises(IntegrityError, match="incidents_incident_environment_same_org"):
        insert(organization=org, environment=EnvironmentFactory(organization=other_org))
    assert not Incident.objects.exists()


@needs_postgresql
def test_the_database_refuses_an_incident_of_another_organizations_project(org, other_org):
    with pytest.raises(IntegrityError, match="incidents_incident_project_same_org"):
        insert(
            organization=org,
            environment=EnvironmentFactory(organization=org),
            project=ProjectFactory(organization=other_org),
        )
