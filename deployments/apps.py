from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"

    def ready(self) -> None:
        from deployments import receivers
        from releasetracker import events

        for event, receiver in receivers.RECEIVERS.items():
            events.changed.connect(receiver, sender=event, dispatch_uid=f"deployments.{event}")
