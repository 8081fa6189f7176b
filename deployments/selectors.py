"""Reads of environments and deployments, scoped by organization."""

from django.db.models import QuerySet

from deployments.models import Deployment, Environment
from releases.models import Release
from releasetracker.models import Organization


def deployment_list(*, organization: Organization) -> QuerySet[Deployment]:
    return (
        Deployment.objects.for_organization(organization)
        .select_related("environment", "release", "project")
        .prefetch_related("status_changes")
    )


def environment_list(*, organization: Organization) -> QuerySet[Environment]:
    return Environment.objects.for_organization(organization)


def deployment_latest_production(*, organization: Organization, release: Release) -> Deployment | None:
    """The release's latest deployment to a production environment, with its environment."""
    return (
        Deployment.objects.for_organization(organization)
        .filter(release=release, environment__is_production=True)
        .select_related("environment")
        .order_by("-occurred_at", "-id")
        .first()
    )
