from django.apps import AppConfig


class ReleaseTrackerConfig(AppConfig):
    name = "releasetracker"
    verbose_name = "Release Tracker"

    def ready(self) -> None:
        # Registers the OpenAPI description of our token authentication.
        from releasetracker.api import schema  # noqa: F401
