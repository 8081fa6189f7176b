"""Count the deployments and releases recorded, by source and status, once their transaction commits.

Every write of a deployment or a release goes through ``Model.save``/``objects.create`` in the
apps' services, so a ``post_save`` receiver on creation sees each one, whatever the entry point
(native API, vendor adapters, admin, commands). The count moves in ``transaction.on_commit``:
a write that is rolled back (a failed request, a lost race) is not counted.
"""

from django.db import transaction
from django.db.models.signals import post_save

from operations.prometheus import DEPLOYMENTS_RECORDED, RELEASES_RECORDED

COUNTERS = {
    "deployments.Deployment": DEPLOYMENTS_RECORDED,
    "releases.Release": RELEASES_RECORDED,
}


def connect() -> None:
    for sender, counter in COUNTERS.items():
        post_save.connect(_counter_receiver(counter), sender=sender, weak=False, dispatch_uid=f"operations.{sender}")


def _counter_receiver(counter):
    def count_created(sender, instance, created: bool, raw: bool = False, using: str = "default", **kwargs) -> None:
        if not created or raw:  # raw: loaddata, which records nothing new
            return
        child = counter.labels(source=instance.source or "unknown", status=instance.status or "unknown")
        transaction.on_commit(child.inc, using=using)

    return count_created
