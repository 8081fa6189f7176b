from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, pre_delete

        from deployments import receivers
        from releasetracker import events

        for event, receiver in receivers.RECEIVERS.items():
            events.changed.connect(receiver, sender=event, dispatch_uid=f"deployments.{event}")
        for model in receivers.DELETED_MODELS:
            name = model._meta.label_lower
            pre_delete.connect(receivers.before_delete, sender=model, dispatch_uid=f"deployments.first.{name}.pre")
            post_delete.connect(receivers.after_delete, sender=model, dispatch_uid=f"deployments.first.{name}.post")
