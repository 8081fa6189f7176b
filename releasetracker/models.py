"""Organizations, memberships, API tokens and the tenancy base every owned model inherits."""

import uuid
from functools import cache
from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


class TimeStamped(models.Model):
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


@cache
def timezone_names() -> frozenset[str]:
    """Every IANA time zone name this installation knows (the tzdata package ships them all)."""
    return frozenset(available_timezones())


def validate_timezone(value: str) -> None:
    if value not in timezone_names():
        raise ValidationError(f"{value!r} is not an IANA time zone name (such as UTC or Europe/Paris)")


class Organization(TimeStamped):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    # Kept in clear on purpose: verifying X-Hub-Signature-256 needs the shared secret itself,
    # not a hash of it. Empty means GitHub webhooks are refused (401) for this organization.
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        # Also the database's default, so a row written by code that predates the field is valid.
        db_default="UTC",
        validators=[validate_timezone],
        help_text="An IANA time zone such as Europe/Paris: the pages show times and days in it.",
    )
    github_webhook_secret = models.CharField(
        "GitHub webhook secret",
        max_length=200,
        blank=True,
        help_text="The secret set on the GitHub webhook pointed at /hooks/github/<slug>/. "
        "Leave empty to refuse webhooks; `manage.py webhook_secret <slug>` prints (and creates) it.",
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class OrgQuerySet(models.QuerySet):
    def for_organization(self, organization: Organization) -> "OrgQuerySet":
        if organization is None:
            raise ValueError("a tenant-owned query needs an organization")
        return self.filter(organization=organization)


class OrgOwned(TimeStamped):
    """Base of every tenant-owned row: the organization is part of the row and of its queries."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")

    objects = OrgQuerySet.as_manager()

    class Meta:
        abstract = True


class Membership(TimeStamped):
    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer"
        ADMIN = "admin", "Admin"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="releasetracker_membership_unique_user"),
            models.CheckConstraint(
                condition=models.Q(role__in=["viewer", "admin"]), name="releasetracker_membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class ApiToken(TimeStamped):
    """A per-organization API token. Only a SHA-256 hash and a short prefix are stored."""

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Write"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    scopes = models.JSONField(default=list)
    # "rt_" plus 8 random characters: enough to recognize a token in a list, useless to guess it.
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    # Lookup on every API request goes through this unique index.
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def has_scope(self, scope: str) -> bool:
        # write implies read: a CI token that writes may read back what it wrote.
        if scope == self.Scope.READ:
            return bool(set(self.scopes) & {self.Scope.READ, self.Scope.WRITE})
        return scope in self.scopes

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class IdempotencyKey(models.Model):
    """The first response to a POST sent with an Idempotency-Key, replayed to its retries."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=512)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField(null=True)
    location = models.CharField(max_length=1024, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "key", "method", "path"], name="releasetracker_idempotencykey_unique"
            )
        ]


class GitHubDelivery(models.Model):
    """A GitHub webhook delivery already handled: a redelivery with the same id changes nothing."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    delivery_id = models.CharField(max_length=100, help_text="the X-GitHub-Delivery header")
    event = models.CharField(max_length=100, help_text="the X-GitHub-Event header")
    action = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "GitHub delivery"
        verbose_name_plural = "GitHub deliveries"
        constraints = [
            # The de-duplication check: a replay of a delivery hits this unique index.
            models.UniqueConstraint(
                fields=["organization", "delivery_id"], name="releasetracker_githubdelivery_unique_delivery"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.delivery_id}"
