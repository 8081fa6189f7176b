from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"

    def ready(self) -> None:
        from deployments import receivers
        from releasetracker import events

        events.changed.connect(
            receivers.commit_sha_completed,
            sender=events.COMMIT_SHA_COMPLETED,
            dispatch_uid="deployments.commit_sha_completed",
        )
