"""Writes for incidents, their incoming hook events and each organization's incident settings.

Every entry point (the native API, the admin, the PagerDuty, Opsgenie and generic hooks) creates
incidents through ``incident_create`` or ``incident_report`` and changes them through
``incident_update``, which keep status and ``resolved_at`` consistent: resolved exactly when
``resolved_at`` is set, never before ``started_at``.
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments.models import Deployment, Environment
from deployments.selectors import deployment_get_by_public_id
from deployments.services import environment_get_or_create, environment_production_get_or_create
from incidents.models import (
    SOURCE_VALUES,
    Incident,
    IncidentEvent,
    IncidentSettings,
    IncidentSource,
    IncidentStatus,
)
from incidents.selectors import SECRET_FIELDS, incident_get_by_external_id
from releases.models import Project
from releases.services import project_get_or_create
from releasetracker.errors import Conflict, DomainError
from releasetracker.models import Organization
from releasetracker.validation import clean_model_text, clean_sha, clean_time

# The longest attribution window a setting may hold: beyond it an incident blames a deployment
# nobody remembers.
MAX_ATTRIBUTION_WINDOW = timedelta(days=90)
_HTTP_URL = URLValidator(schemes=["http", "https"])
# Marks an argument the caller did not pass (None is a value: "no project").
UNSET = object()


def clean_url(value, *, field: str = "url") -> str:
    """An http(s) URL or ""; any other scheme (``javascript:``) would become a link on the pages."""
    value = clean_model_text(Incident, "url", value, field=field)
    if not value:
        return ""
    try:
        _HTTP_URL(value)
    except ValidationError:
        raise DomainError("must be an http(s) URL", field=field) from None
    return value


def _clean_status(status, *, field: str = "status") -> str:
    if status not in (IncidentStatus.OPEN, IncidentStatus.RESOLVED):
        raise DomainError(f"'{status}' is not one of: open, resolved", field=field)
    return str(status)


def _environment(organization: Organization, environment, *, field: str = "environment") -> Environment:
    if isinstance(environment, Environment):
        if environment.organization_id != organization.pk:
            raise DomainError("no such environment", field=field)
        return environment
    return environment_get_or_create(organization=organization, name=environment, field_name=field)


def _project(organization: Organization, project, *, field: str = "project") -> Project | None:
    if project is None or project == "":
        return None
    if isinstance(project, Project):
        if project.organization_id != organization.pk:
            raise DomainError("no such project", field=field)
        return project
    return project_get_or_create(organization=organization, name=project, field_name=field)


def _deployment(organization: Organization, deployment, *, field: str = "deployment") -> Deployment | None:
    """A deployment of this organization, by row or id; another organization's is missing."""
    if deployment is None or deployment == "":
        return None
    if isinstance(deployment, Deployment):
        if deployment.organization_id != organization.pk:
            raise DomainError("no such deployment in this organization", field=field)
        return deployment
    found = deployment_get_by_public_id(organization=organization, public_id=deployment)
    if found is None:
        raise DomainError("no such deployment in this organization", field=field)
    return found


def _check_times(incident: Incident) -> None:
    if incident.resolved_at is not None and incident.resolved_at < incident.started_at:
        raise DomainError("must not be before started_at", field="resolved_at")


def _fingerprint(**sent) -> dict:
    """What a create sent, in JSON terms, to compare a repeat against."""
    return {name: (value.isoformat() if isinstance(value, datetime) else value) for name, value in sorted(sent.items())}


@dataclass(frozen=True)
class _Clean:
    title: str
    severity: str
    status: str
    started_at: datetime | None
    resolved_at: datetime | None
    commit_sha: str
    url: str
    external_id: str
    source: str


def _clean_create(*, title, severity, status, started_at, resolved_at, commit_sha, url, external_id, source) -> _Clean:
    if source not in SOURCE_VALUES:
        raise DomainError(f"'{source}' is not a source", field="source")
    started_at = clean_time(started_at, field="started_at")
    resolved_at = clean_time(resolved_at, field="resolved_at")
    if status is None:
        status = IncidentStatus.RESOLVED if resolved_at is not None else IncidentStatus.OPEN
    status = _clean_status(status)
    if status == IncidentStatus.OPEN and resolved_at is not None:
        raise DomainError("must be empty while the status is open", field="resolved_at")
    return _Clean(
        title=clean_model_text(Incident, "title", title, required=True),
        severity=clean_model_text(Incident, "severity", severity),
        status=status,
        started_at=started_at,
        resolved_at=resolved_at,
        commit_sha=clean_sha(commit_sha, field="commit_sha") if commit_sha else "",
        url=clean_url(url),
        external_id=clean_model_text(Incident, "external_id", external_id),
        source=source,
    )


@transaction.atomic
def incident_create(
    *,
    organization: Organization,
    title: str,
    severity: str = "",
    status: str | None = None,
    started_at: datetime | None = None,
    resolved_at: datetime | None = None,
    environment: Environment | str | None = None,
    project: Project | str | None = None,
    deployment: Deployment | str | None = None,
    commit_sha: str = "",
    url: str = "",
    external_id: str = "",
    source: str = IncidentSource.API,
    created_by: str = "",
) -> tuple[Incident, bool]:
    """Record an incident. Returns ``(incident, created)``.

    ``environment`` defaults to the deployment's, else to the organization's production
    environment; ``started_at`` to now; ``status`` to resolved when ``resolved_at`` is given, else
    open, and a resolved incident without ``resolved_at`` resolved now. A repeat with the same
    ``external_id`` (within its ``source``) and the same payload returns the first incident
    (``created`` False); with another payload it is a conflict.
    """
    data = _clean_create(
        title=title,
        severity=severity,
        status=status,
        started_at=started_at,
        resolved_at=resolved_at,
        commit_sha=commit_sha,
        url=url,
        external_id=external_id,
        source=source,
    )
    fingerprint = _fingerprint(
        title=data.title,
        severity=data.severity,
        status=data.status,
        started_at=data.started_at,
        resolved_at=data.resolved_at,
        environment=environment.name if isinstance(environment, Environment) else (environment or None),
        project=project.name if isinstance(project, Project) else (project or None),
        deployment=str(deployment.public_id) if isinstance(deployment, Deployment) else (deployment or None),
        commit_sha=data.commit_sha,
        url=data.url,
    )
    existing = incident_get_by_external_id(organization=organization, source=data.source, external_id=data.external_id)
    if existing is None:
        deployment_row = _deployment(organization, deployment)
        if environment:
            environment_row = _environment(organization, environment)
        elif deployment_row is not None:
            environment_row = deployment_row.environment
        else:
            environment_row = environment_production_get_or_create(organization=organization)
        now = timezone.now()
        incident = Incident(
            organization=organization,
            title=data.title,
            severity=data.severity,
            status=data.status,
            started_at=data.started_at or now,
            resolved_at=data.resolved_at,
            environment=environment_row,
            project=_project(organization, project),
            deployment=deployment_row,
            commit_sha=data.commit_sha,
            url=data.url,
            external_id=data.external_id,
            source=data.source,
            created_by=clean_model_text(Incident, "created_by", created_by),
            create_payload=fingerprint,
        )
        if incident.status == IncidentStatus.RESOLVED and incident.resolved_at is None:
            incident.resolved_at = max(now, incident.started_at)
        _check_times(incident)
        try:
            with transaction.atomic():
                incident.save()
        except IntegrityError:
            # A concurrent create with the same external_id got there first: answer as a repeat.
            existing = incident_get_by_external_id(
                organization=organization, source=data.source, external_id=data.external_id
            )
            if existing is None:
                raise
        else:
            return incident, True
    differing = [name for name in fingerprint if existing.create_payload.get(name) != fingerprint[name]]
    if differing:
        raise Conflict(
            f"incident '{data.external_id}' already exists with different {', '.join(differing)}; "
            "a repeat of a create must send the same payload (use PATCH to change an incident)",
            field="external_id",
            fields={name: ["differs from the existing incident"] for name in differing},
        )
    return existing, False


@transaction.atomic
def incident_update(
    *,
    organization: Organization,
    incident: Incident,
    title=UNSET,
    severity=UNSET,
    status=UNSET,
    started_at=UNSET,
    resolved_at=UNSET,
    environment=UNSET,
    project=UNSET,
    deployment=UNSET,
    commit_sha=UNSET,
    url=UNSET,
) -> Incident:
    """Change an incident. Resolving it without ``resolved_at`` resolves it now; reopening it
    clears ``resolved_at``; ``resolved_at`` alone resolves it at that time."""
    if incident.organization_id != organization.pk:
        raise DomainError("no such incident", field="incident")
    if title is not UNSET:
        incident.title = clean_model_text(Incident, "title", title, required=True)
    if severity is not UNSET:
        incident.severity = clean_model_text(Incident, "severity", severity)
    if started_at is not UNSET:
        if started_at is None:
            raise DomainError("must not be empty", field="started_at")
        incident.started_at = clean_time(started_at, field="started_at")
    if commit_sha is not UNSET:
        incident.commit_sha = clean_sha(commit_sha, field="commit_sha") if commit_sha else ""
    if url is not UNSET:
        incident.url = clean_url(url)
    if deployment is not UNSET:
        incident.deployment = _deployment(organization, deployment)
    if environment is not UNSET:
        if not environment:
            raise DomainError("must not be empty", field="environment")
        incident.environment = _environment(organization, environment)
    if project is not UNSET:
        incident.project = _project(organization, project)
    if resolved_at is not UNSET:
        resolved_at = clean_time(resolved_at, field="resolved_at")
    if status is not UNSET:
        status = _clean_status(status)
        if status == IncidentStatus.OPEN:
            if resolved_at is not UNSET and resolved_at is not None:
                raise DomainError("must be empty while the status is open", field="resolved_at")
            incident.resolved_at = None
        elif resolved_at is not UNSET and resolved_at is not None:
            incident.resolved_at = resolved_at
        elif incident.status != IncidentStatus.RESOLVED or incident.resolved_at is None:
            # Resolved now; one already resolved keeps its time.
            incident.resolved_at = max(timezone.now(), incident.started_at)
        incident.status = status
    elif resolved_at is not UNSET:
        incident.resolved_at = resolved_at
        incident.status = IncidentStatus.OPEN if resolved_at is None else IncidentStatus.RESOLVED
    _check_times(incident)
    incident.save()
    return incident


def incident_resolve(
    *, organization: Organization, incident: Incident, resolved_at: datetime | None = None
) -> Incident:
    """Resolve an incident at ``resolved_at`` (default: now). Resolving a resolved one keeps its time
    unless another is given."""
    if incident.status == IncidentStatus.RESOLVED and resolved_at is None:
        return incident
    return incident_update(
        organization=organization, incident=incident, status=IncidentStatus.RESOLVED, resolved_at=resolved_at
    )


@transaction.atomic
def incident_report(
    *,
    organization: Organization,
    source: str,
    external_id: str,
    status: str,
    title: str,
    started_at: datetime | None = None,
    resolved_at: datetime | None = None,
    occurred_at: datetime | None = None,
    created_by: str = "",
    **fields,
) -> tuple[Incident, str]:
    """A paging tool's word on its incident ``external_id``: open (triggered) or resolved.

    The first report records the incident (``incident_create`` with ``fields``); a later one
    resolves or reopens it, and changes nothing else. Tools do not promise to deliver in order:
    a report that the incident is open, dated (``occurred_at``) no later than its resolution,
    is older news and changes nothing. Returns ``(incident, what)``, ``what`` being "created",
    "resolved", "reopened" or "unchanged".
    """
    external_id = clean_model_text(Incident, "external_id", external_id, required=True)
    status = _clean_status(status)
    occurred_at = clean_time(occurred_at, field="occurred_at")
    existing = incident_get_by_external_id(organization=organization, source=source, external_id=external_id)
    if existing is None:
        try:
            incident, created = incident_create(
                organization=organization,
                title=title,
                status=status,
                started_at=started_at,
                resolved_at=resolved_at if status == IncidentStatus.RESOLVED else None,
                external_id=external_id,
                source=source,
                created_by=created_by,
                **fields,
            )
        except Conflict:
            created = False  # another report of the same incident was recorded at the same moment
        if created:
            return incident, "created"
        existing = incident_get_by_external_id(organization=organization, source=source, external_id=external_id)
    if status == existing.status:
        return existing, "unchanged"
    if status == IncidentStatus.RESOLVED:
        resolved_at = clean_time(resolved_at, field="resolved_at")
        if resolved_at is not None and resolved_at < existing.started_at:
            resolved_at = existing.started_at  # a source's clock a little behind ours
        incident_resolve(organization=organization, incident=existing, resolved_at=resolved_at)
        return existing, "resolved"
    if occurred_at is not None and existing.resolved_at is not None and occurred_at <= existing.resolved_at:
        return existing, "unchanged"
    incident_update(organization=organization, incident=existing, status=IncidentStatus.OPEN)
    return existing, "reopened"


# Incoming hook events --------------------------------------------------------------------------

T = TypeVar("T")


@transaction.atomic
def incident_event_once(
    *, organization: Organization, source: str, event_id: str, event_type: str, handle: Callable[[], T]
) -> tuple[bool, T | None]:
    """Handle a hook event once: ``handle()`` runs and the event is remembered, in one transaction.

    Returns ``(True, what handle returned)``, or ``(False, None)`` without running it for an event
    already handled. An event whose handling raises is not remembered, so its retry is handled.
    """
    event_id = clean_model_text(IncidentEvent, "event_id", event_id, field="event.id", required=True)
    event_type = event_type[: IncidentEvent._meta.get_field("event_type").max_length]
    remembered = IncidentEvent.objects.for_organization(organization).filter(source=source, event_id=event_id)
    if remembered.exists():
        return False, None
    try:
        with transaction.atomic():
            IncidentEvent.objects.create(
                organization=organization, source=source, event_id=event_id, event_type=event_type
            )
    except IntegrityError:
        return False, None
    return True, handle()


# Settings --------------------------------------------------------------------------------------


def _settings_row(organization: Organization) -> IncidentSettings:
    row, _ = IncidentSettings.objects.get_or_create(organization=organization)
    return row


@transaction.atomic
def incident_settings_update(
    *, organization: Organization, attribution_window: timedelta | None = None, **secrets_by_field: str
) -> IncidentSettings:
    """Change the attribution window or set a hook's secret (``pagerduty_secret`` and so on)."""
    unknown = set(secrets_by_field) - set(SECRET_FIELDS.values())
    if unknown:
        raise TypeError(f"unknown incident settings: {', '.join(sorted(unknown))}")
    row = _settings_row(organization)
    if attribution_window is not None:
        if not isinstance(attribution_window, timedelta) or attribution_window <= timedelta(0):
            raise DomainError("must be a positive duration", field="attribution_window")
        if attribution_window > MAX_ATTRIBUTION_WINDOW:
            raise DomainError(f"must be at most {MAX_ATTRIBUTION_WINDOW.days} days", field="attribution_window")
        row.attribution_window = attribution_window
    for name, value in secrets_by_field.items():
        setattr(row, name, clean_model_text(IncidentSettings, name, value))
    row.save()
    return row


@transaction.atomic
def incident_secret_ensure(*, organization: Organization, source: str, rotate: bool = False) -> tuple[str, bool]:
    """The secret of ``source``'s hook, created when missing (or when ``rotate``): ``(secret, created)``.

    Random, 256 bits, hex so it pastes anywhere. PagerDuty makes its own signing secret: paste
    that one instead (``incident_settings_update``).
    """
    if source not in SECRET_FIELDS:
        raise DomainError(f"'{source}' has no hook secret (one of: {', '.join(SECRET_FIELDS)})", field="source")
    row = _settings_row(organization)
    name = SECRET_FIELDS[source]
    current = getattr(row, name)
    if current and not rotate:
        return current, False
    setattr(row, name, secrets.token_hex(32))
    row.save(update_fields=[name, "updated_at"])
    return getattr(row, name), True
