import importlib

from django.db import migrations, models

# Back to 0010: its rows (one per environment and project) from the deployments.
PREVIOUS_FILL = importlib.import_module("deployments.migrations.0010_first_deployments").FILL

# The rows hold every scope lead time can be asked for: one environment or every production
# environment together (environment_key 0), one project or every project (project_key 0), with
# the commit's time beside them. Derived data: emptied, reshaped and filled again from the
# deployments, as deployments.first_deployments keeps it from here on.
FILL = """
INSERT INTO deployments_firstdeployment
    (organization_id, commit_id, environment_key, project_key, deployment_id, occurred_at, committed_at,
     created_at, updated_at)
SELECT organization_id, commit_id, environment_key, project_key, deployment_id, occurred_at, committed_at,
       occurred_at, occurred_at
FROM (
    SELECT s.*, ROW_NUMBER() OVER (
               PARTITION BY commit_id, environment_key, project_key ORDER BY occurred_at, deployment_id
           ) AS n
    FROM (
        SELECT s.organization_id, s.commit_id,
               CASE WHEN k.by_env = 1 THEN s.environment_id ELSE 0 END AS environment_key,
               CASE WHEN k.by_project = 1 THEN s.project_id ELSE 0 END AS project_key,
               s.deployment_id, s.occurred_at, COALESCE(c.timestamp, c.created_at) AS committed_at
        FROM (
            SELECT d.organization_id, rc.commit_id, d.environment_id, d.project_id, d.id AS deployment_id,
                   d.occurred_at
            FROM deployments_deployment d JOIN releases_releasecommit rc ON rc.release_id = d.release_id
            WHERE d.status = 'success'
            UNION ALL
            SELECT d.organization_id, c.id AS commit_id, d.environment_id, d.project_id, d.id AS deployment_id,
                   d.occurred_at
            FROM deployments_deployment d
            JOIN releases_commit c ON c.organization_id = d.organization_id AND c.sha = d.commit_sha
            WHERE d.release_id IS NULL AND d.status = 'success'
        ) s
        JOIN deployments_environment e ON e.id = s.environment_id
        JOIN releases_commit c ON c.id = s.commit_id
        CROSS JOIN (SELECT 1 AS by_env, 1 AS by_project UNION ALL SELECT 1, 0 UNION ALL SELECT 0, 1
                    UNION ALL SELECT 0, 0) k
        WHERE (k.by_env = 1 OR e.is_production) AND (k.by_project = 0 OR s.project_id IS NOT NULL)
    ) s
) ranked
WHERE n = 1
"""


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0010_first_deployments"),
    ]

    operations = [
        migrations.RunSQL("DELETE FROM deployments_firstdeployment", PREVIOUS_FILL),
        migrations.RemoveConstraint(model_name="firstdeployment", name="deployments_firstdeployment_unique_scope"),
        migrations.RemoveIndex(model_name="firstdeployment", name="deployments_first_org_env_time"),
        migrations.RemoveField(model_name="firstdeployment", name="environment"),
        migrations.AddField(
            model_name="firstdeployment",
            name="environment_key",
            field=models.BigIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AlterField(model_name="firstdeployment", name="project_key", field=models.BigIntegerField()),
        migrations.AddField(
            model_name="firstdeployment",
            name="committed_at",
            field=models.DateTimeField(default="2000-01-01T00:00:00Z"),
            preserve_default=False,
        ),
        migrations.AddConstraint(
            model_name="firstdeployment",
            constraint=models.UniqueConstraint(
                fields=("commit", "environment_key", "project_key"), name="deployments_firstdeployment_unique_scope"
            ),
        ),
        migrations.AddIndex(
            model_name="firstdeployment",
            index=models.Index(
                fields=["organization", "environment_key", "project_key", "occurred_at"],
                include=("committed_at",),
                name="deployments_first_scope_time",
            ),
        ),
        migrations.RunSQL(FILL, "DELETE FROM deployments_firstdeployment"),
    ]
