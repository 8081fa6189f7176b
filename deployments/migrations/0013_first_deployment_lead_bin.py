from django.db import migrations, models

# Each row's lead-time bin, as deployments.first_deployments.lead_bin_sql computes it on every
# write from here on: (from this many seconds, bins this many seconds wide, number of the first
# bin), -1 for a lead time <= 0. Written out here so the migration stays what it was when that
# function changes; the tests check both give the same bins.
PIECES = ((0, 1, 0), (60, 15, 60), (3600, 120, 296), (86400, 600, 986), (604800, 3600, 1850), (7776000, 86400, 3842))


def lead_bin(vendor: str) -> str:
    """The bin of ``occurred_at - committed_at``, from the seconds the metrics read (metrics.queries)."""
    if vendor == "postgresql":
        seconds = "EXTRACT(EPOCH FROM (occurred_at - committed_at))::float8"
    else:
        seconds = "ROUND((julianday(occurred_at) - julianday(committed_at)) * 86400.0, 3)"
    cases = [f"WHEN {seconds} <= 0 THEN -1"]
    for index, (start, width, first) in enumerate(PIECES):
        offset = f"({seconds} - {start})" if start else seconds
        if width > 1:
            offset = f"{offset} / {width}"
        whole = f"FLOOR({offset})::int" if vendor == "postgresql" else f"CAST({offset} AS INTEGER)"
        value = f"{first} + {whole}" if first else whole
        if index + 1 < len(PIECES):
            cases.append(f"WHEN {seconds} < {PIECES[index + 1][0]} THEN {value}")
        else:
            cases.append(f"ELSE {value}")
    return f"(CASE {' '.join(cases)} END)"


def fill(apps, schema_editor) -> None:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE deployments_firstdeployment SET lead_bin = {lead_bin(connection.vendor)}")  # noqa: S608


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0012_deployment_outcomes"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="firstdeployment", name="deployments_first_scope_time"),
        migrations.AddField(
            model_name="firstdeployment", name="lead_bin", field=models.IntegerField(default=-1, db_default=-1)
        ),
        # Back: the column goes, and its values with it.
        migrations.RunPython(fill, migrations.RunPython.noop),
        # The indexes after the fill: built once over the filled rows.
        migrations.AddIndex(
            model_name="firstdeployment",
            index=models.Index(
                fields=["organization", "environment_key", "project_key", "occurred_at"],
                include=("committed_at", "lead_bin"),
                name="deployments_first_scope_time",
            ),
        ),
        migrations.AddIndex(
            model_name="firstdeployment",
            index=models.Index(
                fields=["organization", "environment_key", "project_key", "lead_bin", "occurred_at"],
                include=("committed_at",),
                name="deployments_first_scope_bin",
            ),
        ),
    ]
