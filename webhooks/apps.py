from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Outgoing webhooks"

    def ready(self) -> None:
        from releasetracker import events
        from webhooks import receivers

        for event, receiver in receivers.RECEIVERS.items():
            events.changed.connect(receiver, sender=event, dispatch_uid=f"webhooks.{event}")
