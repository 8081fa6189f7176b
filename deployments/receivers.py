"""What the deployments app keeps up to date when releases change (``releasetracker.events``).

A commit stored by an abbreviated sha that gains its full sha is renamed on the deployments
without a release that named it (the one rule for shas). A commit's first deployment depends on
the commits of deployed releases and on which commit a bare sha names; those are written by the
releases app, which cannot call this one. Each receiver runs inside the writing service's
transaction.
"""

from django.db.models import QuerySet

from deployments.first_deployments import (
    first_deployments_add_commits,
    first_deployments_add_release_commits,
    first_deployments_recompute_commits,
)
from deployments.models import Deployment, FirstDeployment
from deployments.outcomes import outcomes_lock, outcomes_refresh_deployment, outcomes_refresh_streams
from deployments.services import deployment_shas_complete
from releases.models import Commit, Project, Release, ReleaseCommit
from releasetracker import events


def commit_sha_completed(sender, *, organization, short_sha: str, sha: str, **kwargs) -> None:
    deployment_shas_complete(organization=organization, short_sha=short_sha, sha=sha)


def commits_stored(sender, *, organization, commits, **kwargs) -> None:
    if commits:
        first_deployments_add_commits(organization_id=organization.pk, commit_ids=[c.pk for c in commits])


def release_commits_added(sender, *, organization, release, commits, **kwargs) -> None:
    if commits:
        first_deployments_add_release_commits(
            organization_id=organization.pk, release_id=release.pk, commit_ids=[c.pk for c in commits]
        )


# Deletions (the admin's; no service deletes these rows) -----------------------------------------
# The commits whose first deployments a deletion can move are read before it and recomputed
# after it. Only for a deletion of the model itself: a cascade from a release or commit is covered
# by that one's own, and an organization's deletion takes its rows with it.
AFFECTED = "_first_deployments_affected"


def _affected_commits(instance) -> list[int]:
    org = instance.organization_id
    if isinstance(instance, Deployment):
        rows = FirstDeployment.objects.filter(organization_id=org, deployment_id=instance.pk)
        return list(rows.values_list("commit_id", flat=True))
    if isinstance(instance, Project):
        rows = FirstDeployment.objects.filter(organization_id=org, project_key=instance.pk)
        return list(rows.values_list("commit_id", flat=True).distinct())
    if isinstance(instance, ReleaseCommit):
        return [instance.commit_id]
    # A release: its commits, and those its deployments name by sha, which they fall back to.
    listed = ReleaseCommit.objects.filter(organization_id=org, release_id=instance.pk).values_list(
        "commit_id", flat=True
    )
    shas = Deployment.objects.filter(organization_id=org, release_id=instance.pk).values_list("commit_sha", flat=True)
    by_sha = Commit.objects.filter(organization_id=org, sha__in=shas).values_list("id", flat=True)
    return [*listed, *by_sha]


def _deleted_itself(sender, origin) -> bool:
    model = origin.model if isinstance(origin, QuerySet) else type(origin)
    return model is sender


# A deleted project's deployments join the streams without a project of their environments
# (``deployments.outcomes``): those are recomputed after it.
JOINING = "_outcome_streams_joined"


def before_delete(sender, instance, origin=None, **kwargs) -> None:
    if _deleted_itself(sender, origin):
        # The environments whose outcomes the deletion recomputes are locked before its rows.
        if isinstance(instance, Deployment):
            outcomes_lock([instance.environment_id])
        if isinstance(instance, Project):
            deployed = Deployment.objects.filter(organization_id=instance.organization_id, project_id=instance.pk)
            instance.__dict__[JOINING] = list(deployed.values_list("environment_id", flat=True).distinct())
            outcomes_lock(instance.__dict__[JOINING])
        instance.__dict__[AFFECTED] = _affected_commits(instance)


def after_delete(sender, instance, origin=None, **kwargs) -> None:
    commit_ids = instance.__dict__.pop(AFFECTED, None)
    if commit_ids:
        first_deployments_recompute_commits(organization_id=instance.organization_id, commit_ids=commit_ids)
    if isinstance(instance, Deployment) and _deleted_itself(sender, origin):
        # The stretch of its stream around where it was.
        outcomes_refresh_deployment(instance)
    joined = instance.__dict__.pop(JOINING, None)
    if joined:
        outcomes_refresh_streams(organization_id=instance.organization_id, environment_ids=joined)


DELETED_MODELS = (Deployment, Release, Project, ReleaseCommit)

RECEIVERS = {
    events.COMMIT_SHA_COMPLETED: commit_sha_completed,
    events.COMMITS_STORED: commits_stored,
    events.RELEASE_COMMITS_ADDED: release_commits_added,
}
