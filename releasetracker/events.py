"""The in-transaction event hook: how a write tells the rest of the product that it happened.

Services publish an event inside the transaction that makes the change; receivers run at once,
in that same transaction, so what they write (the outgoing webhooks' outbox) commits or rolls
back with the change itself. The apps that write (releases, deployments) know nothing of who
listens; the listeners (webhooks) connect in their ``AppConfig.ready``.

Events and their keyword arguments (besides ``organization``):

- ``release.created``: ``release``, ``projects`` (its Project rows), ``build_requested`` (Aviator's
  ``trigger_build_workflow``).
- ``deployment.created``: ``deployment`` (with its environment, release and project loaded),
  ``requested`` (the caller asked for the environment's deploy workflow).
- ``deployment.status_changed``: ``deployment``, ``previous_status``.
- ``commits.stored``: ``commits`` (Commit rows, new or already known).
- ``release.commits_added``: ``release``, ``commits`` (Commit rows appended to an existing release).
- ``commit.sha_completed``: ``short_sha``, ``sha``: a commit stored by an abbreviated sha now has
  its longer one (the one rule for shas, ``releases.services.commit_shas_settle``).
"""

from django.dispatch import Signal

RELEASE_CREATED = "release.created"
DEPLOYMENT_CREATED = "deployment.created"
DEPLOYMENT_STATUS_CHANGED = "deployment.status_changed"
COMMITS_STORED = "commits.stored"
RELEASE_COMMITS_ADDED = "release.commits_added"
COMMIT_SHA_COMPLETED = "commit.sha_completed"

# ``sender`` is the event's name: a receiver connects with ``sender=DEPLOYMENT_CREATED`` to hear only that one.
changed = Signal()


def publish(event: str, *, organization, **rows) -> None:
    """Tell every receiver of ``event``; call it inside the transaction that writes the change."""
    changed.send(sender=event, organization=organization, **rows)
