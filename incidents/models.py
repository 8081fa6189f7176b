"""Incidents (what broke production, from the API or a paging tool) and each organization's
incident settings. Writes go through ``incidents.services``."""

import uuid
from datetime import timedelta

from django.db import models
from django.utils import timezone

from deployments.models import Deployment, Environment
from releases.models import Project
from releasetracker.models import Organization, OrgOwned

DEFAULT_ATTRIBUTION_WINDOW = timedelta(days=7)


class IncidentStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class IncidentSource(models.TextChoices):
    """Which entry point created an incident; an ``external_id`` is unique within its source."""

    API = "api", "Native API"
    ADMIN = "admin", "Admin"
    PAGERDUTY = "pagerduty", "PagerDuty webhook"
    OPSGENIE = "opsgenie", "Opsgenie webhook"
    GENERIC = "generic", "Generic webhook"
    DEMO = "demo", "Demo data"


STATUS_VALUES = [choice.value for choice in IncidentStatus]
SOURCE_VALUES = [choice.value for choice in IncidentSource]


class Incident(OrgOwned):
    # Every read names the organization, and the composite indexes below start with it.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    title = models.CharField(max_length=500)
    severity = models.CharField(max_length=50, blank=True, help_text="free text, such as SEV1 or P2")
    status = models.CharField(max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.OPEN)
    started_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True, help_text="empty while the incident is open")
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="incidents", db_index=False)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents")
    deployment = models.ForeignKey(
        Deployment,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="incidents",
        help_text="the deployment that caused it, when known",
    )
    commit_sha = models.CharField(max_length=64, blank=True)
    url = models.URLField(max_length=500, blank=True)
    external_id = models.CharField(max_length=200, blank=True, help_text="the incident's id in its source")
    source = models.CharField(max_length=16, choices=IncidentSource.choices, default=IncidentSource.API)
    created_by = models.CharField(max_length=200, blank=True)
    # What the first create sent, so a repeat with the same external_id can be told apart from a
    # different incident claiming the same id (303 versus 409).
    create_payload = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "source", "external_id"],
                condition=~models.Q(external_id=""),
                name="incidents_incident_unique_external_id",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=STATUS_VALUES), name="incidents_incident_status_valid"
            ),
            # Resolved exactly when resolved_at is set.
            models.CheckConstraint(
                condition=models.Q(status="open", resolved_at__isnull=True)
                | models.Q(status="resolved", resolved_at__isnull=False),
                name="incidents_incident_resolved_has_time",
            ),
            models.CheckConstraint(
                condition=models.Q(resolved_at__isnull=True) | models.Q(resolved_at__gte=models.F("started_at")),
                name="incidents_incident_resolved_after_start",
            ),
        ]
        indexes = [
            # The API list and the incidents page: an organization's incidents, newest first.
            models.Index(fields=["organization", "started_at"], name="incidents_incident_list"),
            # Attribution: the incidents of an environment over a time window.
            models.Index(fields=["organization", "environment", "started_at"], name="incidents_incident_attribution"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status == IncidentStatus.OPEN

    @property
    def duration(self) -> timedelta | None:
        """How long it ran (until now while open)."""
        return (self.resolved_at or timezone.now()) - self.started_at


class IncidentSettings(OrgOwned):
    """One organization's incident settings: the attribution window and the incoming hooks' secrets.

    The secrets are kept in clear, as the GitHub webhook secret is: checking an HMAC signature
    needs the shared secret itself. An empty secret refuses that hook (401).
    """

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="incident_settings")
    attribution_window = models.DurationField(
        default=DEFAULT_ATTRIBUTION_WINDOW,
        help_text="how long after a deployment an incident without a named deployment may be blamed on it",
    )
    pagerduty_secret = models.CharField(
        "PagerDuty signing secret",
        max_length=200,
        blank=True,
        help_text="the secret PagerDuty shows for the webhook subscription pointed at /hooks/pagerduty/<slug>/",
    )
    opsgenie_secret = models.CharField(
        "Opsgenie shared secret",
        max_length=200,
        blank=True,
        help_text="sent by Opsgenie's webhook integration in the X-Webhook-Secret custom header",
    )
    generic_secret = models.CharField(
        "Generic hook secret",
        max_length=200,
        blank=True,
        help_text="signs the generic incident hook at /hooks/incidents/<slug>/ (X-Signature-256)",
    )

    class Meta:
        verbose_name = "incident settings"
        verbose_name_plural = "incident settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(attribution_window__gt=timedelta(0)),
                name="incidents_incidentsettings_window_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"incident settings of {self.organization_id}"


class IncidentEvent(OrgOwned):
    """An incoming hook event already handled: a replay with the same id changes nothing."""

    # The unique constraint below starts with the organization and serves its reads.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    source = models.CharField(max_length=16, choices=IncidentSource.choices)
    event_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "source", "event_id"], name="incidents_incidentevent_unique_event"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.event_type} {self.event_id}"
