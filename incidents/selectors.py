"""Reads of incidents and of an organization's incident settings, scoped by organization."""

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import QuerySet

from incidents.models import Incident, IncidentSettings, IncidentSource
from releasetracker.models import Organization


def incident_list(*, organization: Organization) -> QuerySet[Incident]:
    """An organization's incidents, newest first, with what the API and the pages show of them."""
    return (
        Incident.objects.for_organization(organization)
        .select_related("environment", "project", "deployment", "deployment__release")
        .order_by("-started_at", "-id")
    )


def incident_get_by_external_id(*, organization: Organization, source: str, external_id: str) -> Incident | None:
    if not external_id:
        return None
    return incident_list(organization=organization).filter(source=source, external_id=external_id).first()


def incidents_of_deployments(*, organization: Organization, deployment_ids: Iterable[int]) -> dict[int, list[Incident]]:
    """The incidents explicitly linked to each deployment (its ``deployment`` foreign key), in one query."""
    ids = list(deployment_ids)
    linked: dict[int, list[Incident]] = defaultdict(list)
    if not ids:
        return linked
    rows = (
        Incident.objects.for_organization(organization)
        .filter(deployment_id__in=ids)
        .select_related("environment")
        .order_by("started_at", "id")
    )
    for incident in rows:
        linked[incident.deployment_id].append(incident)
    return linked


def incident_settings_get(*, organization: Organization) -> IncidentSettings:
    """The organization's incident settings; the defaults (unsaved) when none were ever written."""
    found = IncidentSettings.objects.for_organization(organization).first()
    return found if found is not None else IncidentSettings(organization=organization)


def incident_secret(*, organization: Organization, source: str) -> str:
    """The secret an incoming hook of ``source`` is checked against; "" when none is set."""
    settings = IncidentSettings.objects.for_organization(organization).first()
    if settings is None:
        return ""
    return getattr(settings, SECRET_FIELDS[source], "") or ""


# The settings column holding each hook's secret.
SECRET_FIELDS = {
    IncidentSource.PAGERDUTY: "pagerduty_secret",
    IncidentSource.OPSGENIE: "opsgenie_secret",
    IncidentSource.GENERIC: "generic_secret",
}
