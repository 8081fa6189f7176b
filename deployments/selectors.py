"""Reads of environments and deployments, scoped by organization."""

from django.db.models import QuerySet

from deployments.models import Deployment, Environment
from releasetracker.models import Organization


def deployment_list(*, organization: Organization) -> QuerySet[Deployment]:
    return (
        Deployment.objects.for_organization(organization)
        .select_related("environment", "release", "project")
        .prefetch_related("status_changes")
    )


def environment_list(*, organization: Organization) -> QuerySet[Environment]:
    return Environment.objects.for_organization(organization)
