"""Reads of environments and deployments, and of releases with their deployments, scoped by organization."""

import uuid

from django.db.models import Prefetch, QuerySet

from deployments.models import Deployment, DeploymentStatusChange, Environment
from releases.models import Release, ReleaseCommit
from releases.selectors import release_list
from releasetracker.models import Organization


def deployment_list(*, organization: Organization) -> QuerySet[Deployment]:
    return (
        Deployment.objects.for_organization(organization)
        .select_related("environment", "release", "project")
        .prefetch_related(history_prefetch())
    )


def history_prefetch(lookup: str = "status_changes") -> Prefetch:
    """Each deployment's status changes, in time order, into ``Deployment.history``."""
    return Prefetch(
        lookup, queryset=DeploymentStatusChange.objects.order_by("at", "id"), to_attr=Deployment.HISTORY_LOADED
    )


def environment_list(*, organization: Organization) -> QuerySet[Environment]:
    return Environment.objects.for_organization(organization)


def release_detail(*, organization: Organization) -> QuerySet[Release]:
    """Releases with everything their detail view shows: commits, refs, deployments and history."""
    return release_list(organization=organization).prefetch_related(
        Prefetch(
            "release_commits",
            queryset=ReleaseCommit.objects.select_related("commit__repository").order_by("position", "id"),
        ),
        "refs__repository",
        Prefetch(
            "deployments",
            queryset=Deployment.objects.select_related("environment", "release", "project")
            .prefetch_related(history_prefetch())
            .order_by("-occurred_at", "-id"),
        ),
    )


def release_get(*, organization: Organization, key: str) -> Release | None:
    """A release by public id or by version (pages accept either)."""
    queryset = release_detail(organization=organization)
    try:
        return queryset.filter(public_id=uuid.UUID(str(key))).first()
    except ValueError:
        return queryset.filter(version=key).first()


def deployment_latest_production(*, organization: Organization, release: Release) -> Deployment | None:
    """The release's latest deployment to a production environment, with its environment."""
    return (
        Deployment.objects.for_organization(organization)
        .filter(release=release, environment__is_production=True)
        .select_related("environment")
        .order_by("-occurred_at", "-id")
        .first()
    )


def release_get_by_id(*, organization: Organization, public_id: str) -> Release | None:
    """A release by its public id, with what its detail shows; None for a malformed id, as for
    an id of another organization's release (vendor APIs whose ids are ids, never versions)."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return release_detail(organization=organization).filter(public_id=key).first()


# Incoming integrations ---------------------------------------------------------------------


def environment_get(*, organization: Organization, name: str) -> Environment | None:
    """The environment named ``name``; None too for a name no environment can have (longer than
    the field, or holding a NUL character, which PostgreSQL cannot even compare)."""
    if "\x00" in name or len(name) > Environment._meta.get_field("name").max_length:
        return None
    return environment_list(organization=organization).filter(name=name).first()


def deployment_list_of_project(*, organization: Organization, environment: Environment, project: str) -> QuerySet:
    """The deployments of ``project`` (by name) to ``environment``, newest first, with what a
    vendor's list shows of each (its environment, release and project)."""
    return (
        Deployment.objects.for_organization(organization)
        .filter(environment=environment, project__name=project)
        .select_related("environment", "release", "project")
        .order_by("-occurred_at", "-id")
    )


def deployment_get_by_external_id(
    *, organization: Organization, environment: str, external_id: str
) -> Deployment | None:
    """The deployment a source's own id names in an environment (by name), if it was recorded."""
    return (
        Deployment.objects.for_organization(organization)
        .filter(environment__name=environment, external_id=external_id)
        .first()
    )
