# The live deployment of each (environment, project): used by the environments matrix.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0008_merge_abbreviated_commits"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="deployment",
            index=models.Index(
                condition=models.Q(("status", "success")),
                fields=["organization", "environment", "project", "occurred_at"],
                name="deployments_live",
            ),
        ),
    ]
