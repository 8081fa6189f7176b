from django.db import migrations

# An incident's environment and project are of its own organization: foreign keys on
# (organization, x) to the (organization, id) unique constraints, as for deployments (deployments
# 0005). PostgreSQL only (SQLite cannot add a constraint to an existing table; the services check
# the same thing there). The deployment link is checked by the service alone: a unique
# (organization, id) index on the deployments table would slow every deployment insert.
SAME_ORGANIZATION = [
    ("environment", "deployments_environment"),
    ("project", "releases_project"),
]


def add_same_organization_keys(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column, table in SAME_ORGANIZATION:
        schema_editor.execute(
            f"ALTER TABLE incidents_incident ADD CONSTRAINT incidents_incident_{column}_same_org"
            f" FOREIGN KEY (organization_id, {column}_id) REFERENCES {table} (organization_id, id)"
            " DEFERRABLE INITIALLY DEFERRED"
        )


def drop_same_organization_keys(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column, _table in SAME_ORGANIZATION:
        schema_editor.execute(f"ALTER TABLE incidents_incident DROP CONSTRAINT incidents_incident_{column}_same_org")


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0001_incidents"),
        ("deployments", "0005_organization_checked"),
        ("releases", "0002_organization_checked"),
    ]

    operations = [migrations.RunPython(add_same_organization_keys, drop_same_organization_keys)]
