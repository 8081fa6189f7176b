"""Outgoing webhooks: endpoints an organization configures, and the deliveries queued for them.

Deliveries are an outbox: rows written in the same transaction as the event they describe,
sent after commit by ``manage.py deliver_webhooks`` using the database as the queue.
"""

import uuid
from urllib.parse import urlsplit

from django.db import models
from django.utils import timezone

from deployments.models import Environment
from releases.models import Project
from releasetracker.models import OrgOwned


class WebhookEvent(models.TextChoices):
    """What an endpoint can ask for. Names are ``<object>.<what happened>``: incidents will add
    ``incident.opened`` and ``incident.resolved`` beside the deployment outcomes."""

    RELEASE_BUILD_REQUESTED = "release.build_requested", "Release build requested"
    DEPLOYMENT_REQUESTED = "deployment.requested", "Deployment requested"
    DEPLOYMENT_CREATED = "deployment.created", "Deployment created"
    DEPLOYMENT_STATUS_CHANGED = "deployment.status_changed", "Deployment status changed"
    # The outcomes a person follows in a chat channel; a deployment sends at most one per status
    # change (a successful rollback sends rolled_back, not succeeded).
    DEPLOYMENT_STARTED = "deployment.started", "Deployment started"
    DEPLOYMENT_SUCCEEDED = "deployment.succeeded", "Deployment succeeded"
    DEPLOYMENT_FAILED = "deployment.failed", "Deployment failed"
    DEPLOYMENT_ROLLED_BACK = "deployment.rolled_back", "Deployment rolled back"
    # Sent on request to one endpoint ("send test message"); no endpoint subscribes to it.
    TEST = "webhook.test", "Test message"


# Events an endpoint may subscribe to, and those a chat message exists for.
SUBSCRIBABLE_EVENTS = [choice for choice in WebhookEvent.choices if choice[0] != WebhookEvent.TEST]
CHAT_EVENTS = (
    WebhookEvent.DEPLOYMENT_STARTED,
    WebhookEvent.DEPLOYMENT_SUCCEEDED,
    WebhookEvent.DEPLOYMENT_FAILED,
    WebhookEvent.DEPLOYMENT_ROLLED_BACK,
)


class WebhookFormat(models.TextChoices):
    JSON = "json", "JSON (signed)"
    SLACK = "slack", "Slack"
    TEAMS = "teams", "Microsoft Teams"
    DISCORD = "discord", "Discord"


class WebhookEndpoint(OrgOwned):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # A chat format's URL is its only credential (whoever has it posts to the channel), so it is
    # shown once and masked after (``display_url``). It is kept in clear, like the signing secret
    # and the GitHub secret: the worker must post to it, so a hash would not do, and encrypting it
    # with a key derived from SECRET_KEY would put the key beside the data in the same settings and
    # lose every stored URL when SECRET_KEY is rotated.
    url = models.URLField(max_length=500)
    format = models.CharField(
        max_length=16,
        choices=WebhookFormat.choices,
        default=WebhookFormat.JSON,
        help_text="json: our signed payload; slack, teams, discord: that service's message (not signed)",
    )
    secret = models.CharField(
        max_length=128,
        blank=True,
        help_text="signs every JSON delivery (HMAC-SHA256 of the body); generated when left empty",
    )
    events = models.JSONField(default=list)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    environment = models.ForeignKey(Environment, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    is_active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(format__in=["json", "slack", "teams", "discord"]),
                name="webhooks_endpoint_format_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.display_url

    @property
    def is_chat(self) -> bool:
        return self.format != WebhookFormat.JSON

    @property
    def display_url(self) -> str:
        """The URL as lists show it: in full for JSON, scheme, host and last 4 characters for a chat URL."""
        if not self.is_chat:
            return self.url
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return f"{parts.scheme}://{host}/…{self.url[-4:]}"


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
    last_response = models.TextField(blank=True, help_text="the first 200 characters of the last answer, or the error")
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
