from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _postgresql_session(sender, connection, **kwargs) -> None:
    """Once per new PostgreSQL connection: no JIT compilation.

    The app's longest statements (the metrics aggregates) run in tens of milliseconds. When the
    planner overestimates one (a busy organization's recent rows make another's window look
    large), its cost crosses ``jit_above_cost`` and compiling the query costs more than running
    it (docs/performance.md). A ``SET`` on the connection rather than a
    startup option, which connection poolers such as PgBouncer refuse.
    """
    if connection.vendor == "postgresql":
        connection.connection.execute("SET jit = off")


class ReleaseTrackerConfig(AppConfig):
    name = "releasetracker"
    verbose_name = "Release Tracker"

    def ready(self) -> None:
        # Registers the OpenAPI description of our token authentication.
        from releasetracker.api import schema  # noqa: F401

        connection_created.connect(_postgresql_session, dispatch_uid="releasetracker.postgresql_session")
