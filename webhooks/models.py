"""Outgoing webhooks: endpoints an organization configures, and the deliveries queued for them.

Deliveries are an outbox: rows written in the same transaction as the event they describe,
sent after commit by ``manage.py deliver_webhooks`` using the database as the queue.
"""

import uuid

from django.db import models
from django.utils import timezone

from deployments.models import Environment
from releases.models import Project
from releasetracker.models import OrgOwned


class WebhookEvent(models.TextChoices):
    RELEASE_BUILD_REQUESTED = "release.build_requested", "Release build requested"
    DEPLOYMENT_REQUESTED = "deployment.requested", "Deployment requested"
    DEPLOYMENT_CREATED = "deployment.created", "Deployment created"
    DEPLOYMENT_STATUS_CHANGED = "deployment.status_changed", "Deployment status changed"
    DEPLOYMENT_FAILED = "deployment.failed", "Deployment failed"


class WebhookEndpoint(OrgOwned):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    url = models.URLField(max_length=500)
    secret = models.CharField(
        max_length=128,
        blank=True,
        help_text="signs every delivery (HMAC-SHA256 of the body); generated when left empty",
    )
    events = models.JSONField(default=list)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    environment = models.ForeignKey(Environment, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    is_active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(OrgOwned):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64, choices=WebhookEvent.choices)
    payload = models.JSONField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True, help_text="first 2,000 characters of the last response or error")
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # Used by the worker's queue query: due pending deliveries, oldest first.
            models.Index(fields=["state", "next_attempt_at"], name="webhooks_delivery_queue"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=["pending", "delivered", "failed"]), name="webhooks_delivery_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint.url} ({self.state})"
