from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operations"

    def ready(self) -> None:
        from operations import recorded, tracing

        recorded.connect()
        if tracing.enabled():
            tracing.configure()
