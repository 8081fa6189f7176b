"""The table of the default cache (``CACHE_URL`` unset or ``db://rt_cache``): rate-limit and sign-in
counters shared by every process, made by ``migrate`` so no deployment step can forget it."""

from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations

from releasetracker.cache import DEFAULT_TABLE


def create_cache_table(apps, schema_editor):
    # Django's createcachetable, for the default table whatever CACHE_URL says now; it skips a
    # table that exists (one made by `manage.py createcachetable` before this migration).
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, DEFAULT_TABLE, dry_run=False)


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(DEFAULT_TABLE)}")


class Migration(migrations.Migration):
    dependencies = [
        ("releasetracker", "0002_github_webhooks"),
    ]

    operations = [
        migrations.RunPython(create_cache_table, drop_cache_table, elidable=False),
    ]
