"""Drop the single-column foreign-key indexes no query needs (see Deployment and DeploymentStatusChange).

Only the indexes are dropped: a plain AlterField(db_index=False) would also drop and re-add each
foreign-key constraint, re-checking every row of the largest tables under a lock.
"""

import django.db.models.deletion
from django.db import migrations, models

# (model, column) whose own index goes.
UNINDEXED = [
    ("deployment", "organization_id"),
    ("deployment", "environment_id"),
    ("deployment", "release_id"),
    ("deployment", "project_id"),
    ("deploymentstatuschange", "organization_id"),
    ("deploymentstatuschange", "deployment_id"),
]


def _single_column_indexes(schema_editor, model, column):
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(cursor, model._meta.db_table)
    return [
        name
        for name, info in constraints.items()
        if info["columns"] == [column]
        and info["index"]
        and not info["unique"]
        and not info["primary_key"]
        and not info["foreign_key"]
    ]


def drop_indexes(apps, schema_editor):
    for model_name, column in UNINDEXED:
        model = apps.get_model("deployments", model_name)
        for name in _single_column_indexes(schema_editor, model, column):
            schema_editor.execute(schema_editor._delete_index_sql(model, name))


def create_indexes(apps, schema_editor):
    for model_name, column in UNINDEXED:
        model = apps.get_model("deployments", model_name)
        field = next(f for f in model._meta.concrete_fields if f.column == column)
        if not _single_column_indexes(schema_editor, model, column):
            schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0001_initial"),
        ("releases", "0001_initial"),
        ("releasetracker", "0002_github_webhooks"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_indexes, create_indexes)],
            state_operations=[
                migrations.AlterField(
                    model_name="deployment",
                    name="environment",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="deployments",
                        to="deployments.environment",
                    ),
                ),
                migrations.AlterField(
                    model_name="deployment",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="releasetracker.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="deployment",
                    name="project",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="deployments",
                        to="releases.project",
                    ),
                ),
                migrations.AlterField(
                    model_name="deployment",
                    name="release",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="deployments",
                        to="releases.release",
                    ),
                ),
                migrations.AlterField(
                    model_name="deploymentstatuschange",
                    name="deployment",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="status_changes",
                        to="deployments.deployment",
                    ),
                ),
                migrations.AlterField(
                    model_name="deploymentstatuschange",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="releasetracker.organization",
                    ),
                ),
            ],
        )
    ]
