"""What the deployments app keeps up to date when releases change (``releasetracker.events``).

A commit's first deployment depends on the commits of deployed releases and on which commit a
bare sha names; those are written by the releases app, which cannot call this one. Each receiver
runs inside the writing service's transaction.
"""

from deployments.first_deployments import first_deployments_add_commits, first_deployments_add_release_commits
from releasetracker import events


def commits_stored(sender, *, organization, commits, **kwargs) -> None:
    if commits:
        first_deployments_add_commits(organization_id=organization.pk, commit_ids=[c.pk for c in commits])


def release_commits_added(sender, *, organization, release, commits, **kwargs) -> None:
    if commits:
        first_deployments_add_release_commits(
            organization_id=organization.pk, release_id=release.pk, commit_ids=[c.pk for c in commits]
        )


RECEIVERS = {
    events.COMMITS_STORED: commits_stored,
    events.RELEASE_COMMITS_ADDED: release_commits_added,
}
