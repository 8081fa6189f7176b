"""What the outgoing webhooks queue when the product writes something (``releasetracker.events``).

Each receiver runs inside the writing service's transaction, so a delivery exists exactly when
the change it announces was committed.
"""

from deployments.models import DeploymentStatus
from releasetracker import events
from webhooks.messages import deployment_message
from webhooks.models import WebhookEvent
from webhooks.services import deployment_data, release_data, webhook_emit


def release_created(sender, *, organization, release, projects, build_requested: bool = False, **kwargs) -> None:
    if not build_requested:
        return
    # Aviator's trigger_build_workflow: one build request per project the release contains.
    for project in projects or [None]:
        webhook_emit(
            organization=organization,
            events=[WebhookEvent.RELEASE_BUILD_REQUESTED],
            data=release_data(release, project=project),
            project_id=project.pk if project else None,
        )


def _outcome(deployment) -> list[str]:
    """The outcome event of the status a deployment now has, if any: started, succeeded (or, for
    a rollback, whether flagged or found, rolled back) or failed."""
    if deployment.status == DeploymentStatus.IN_PROGRESS:
        return [WebhookEvent.DEPLOYMENT_STARTED]
    if deployment.status == DeploymentStatus.SUCCESS:
        return [WebhookEvent.DEPLOYMENT_ROLLED_BACK if deployment.is_rollback else WebhookEvent.DEPLOYMENT_SUCCEEDED]
    if deployment.status == DeploymentStatus.FAILURE:
        return [WebhookEvent.DEPLOYMENT_FAILED]
    return []


def deployment_created(sender, *, organization, deployment, requested: bool = False, **kwargs) -> None:
    names = [WebhookEvent.DEPLOYMENT_CREATED]
    if requested:  # Aviator's "create a deployment triggers the environment's workflow"
        names.append(WebhookEvent.DEPLOYMENT_REQUESTED)
    _emit(organization, deployment, names + _outcome(deployment))


def deployment_status_changed(sender, *, organization, deployment, previous_status: str, **kwargs) -> None:
    names = [WebhookEvent.DEPLOYMENT_STATUS_CHANGED, *_outcome(deployment)]
    _emit(organization, deployment, names, previous_status=previous_status)


def _emit(organization, deployment, names: list[str], *, previous_status: str | None = None) -> None:
    webhook_emit(
        organization=organization,
        events=names,
        data=lambda: deployment_data(deployment, previous_status=previous_status),
        message=lambda event: deployment_message(organization=organization, deployment=deployment, event=event),
        project_id=deployment.project_id,
        environment_id=deployment.environment_id,
    )


RECEIVERS = {
    events.RELEASE_CREATED: release_created,
    events.DEPLOYMENT_CREATED: deployment_created,
    events.DEPLOYMENT_STATUS_CHANGED: deployment_status_changed,
}
