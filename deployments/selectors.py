"""Reads of environments and deployments, and of releases with their deployments, scoped by organization."""

import uuid
from collections import defaultdict
from datetime import datetime

from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet, Window
from django.db.models.functions import RowNumber

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


def release_latest_deployments(*, organization: Organization, release_ids: list[int]) -> dict[int, list[Deployment]]:
    """The latest deployment of each release to each environment, in one query whatever the count.

    A window function ranks each (release, environment) pair's deployments newest first, and
    only the first of each is read, so a release deployed 500 times costs one row per environment.
    """
    if not release_ids:
        return {}
    ranked = (
        Deployment.objects.for_organization(organization)
        .filter(release_id__in=release_ids)
        .select_related("environment")
        .only("release_id", "status", "occurred_at", "is_rollback", "is_hotfix", "environment__name")
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("release_id"), F("environment_id")],
                order_by=[F("occurred_at").desc(), F("id").desc()],
            )
        )
        .filter(rank=1)
        .order_by("-environment__is_production", "environment__name")
    )
    chips: dict[int, list[Deployment]] = defaultdict(list)
    for deployment in ranked:
        chips[deployment.release_id].append(deployment)
    return chips


def _latest_status_is(status: str, environment: str | None) -> Exists:
    """Releases whose latest deployment (to ``environment``, or to any environment) has ``status``."""
    later = Deployment.objects.filter(
        organization_id=OuterRef("organization_id"),
        release_id=OuterRef("release_id"),
        environment_id=OuterRef("environment_id"),
    ).filter(Q(occurred_at__gt=OuterRef("occurred_at")) | Q(occurred_at=OuterRef("occurred_at"), id__gt=OuterRef("id")))
    candidates = Deployment.objects.filter(
        organization_id=OuterRef("organization_id"), release_id=OuterRef("pk"), status=status
    )
    if environment:
        candidates = candidates.filter(environment__name=environment)
    return Exists(candidates.filter(~Exists(later)))


def release_timeline(
    *,
    organization: Organization,
    q: str = "",
    project: str = "",
    environment: str = "",
    status: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Release]:
    """The timeline's releases, newest first: by version or name, project, environment (deployed
    there), latest deployment status (there, or anywhere) and creation time in ``[since, until)``."""
    queryset = release_list(organization=organization)
    if q:
        queryset = queryset.filter(Q(version__icontains=q) | Q(name__icontains=q))
    if project:
        queryset = queryset.filter(projects__name=project)
    if environment and not status:
        queryset = queryset.filter(
            Exists(
                Deployment.objects.filter(
                    organization=organization, release_id=OuterRef("pk"), environment__name=environment
                )
            )
        )
    if status:
        queryset = queryset.filter(_latest_status_is(status, environment))
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    return queryset
