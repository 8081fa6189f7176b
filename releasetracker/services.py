"""Writes for organizations, memberships, API tokens and the GitHub deliveries handled."""

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from releasetracker.db_router import PRIMARY
from releasetracker.errors import DomainError, NotFound
from releasetracker.models import ApiToken, GitHubDelivery, Membership, Organization

TOKEN_PREFIX = "rt_"  # noqa: S105 - a label, not a secret
# last_used_at is written at most this often per token, so a burst of CI calls is not a burst of writes.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def token_hash(clear: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is safe; a slow KDF would only slow every request.
    return hashlib.sha256(clear.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    clear: str


def _new_secret() -> tuple[str, str]:
    body = secrets.token_urlsafe(32)
    clear = f"{TOKEN_PREFIX}{body}"
    return clear, clear[: len(TOKEN_PREFIX) + 8]


def organization_create(*, slug: str, name: str) -> Organization:
    slug = slug.strip().lower()
    if Organization.objects.filter(slug=slug).exists():
        raise DomainError(f"an organization with slug '{slug}' already exists", field="slug")
    org = Organization(slug=slug, name=name.strip() or slug)
    org.full_clean()
    org.save()
    return org


@transaction.atomic
def organization_update(*, organization: Organization, timezone: str | None = None) -> Organization:
    """Change an organization's settings (its time zone), validated by the model."""
    fields = []
    if timezone is not None:
        organization.timezone = timezone.strip()
        fields.append("timezone")
    if fields:
        try:
            organization.full_clean(validate_unique=False, validate_constraints=False)
        except ValidationError as error:
            field, messages = next(iter(error.message_dict.items()))
            raise DomainError(messages[0], field=field) from None
        organization.save(update_fields=[*fields, "updated_at"])
    return organization


def membership_set(*, organization: Organization, user, role: str = Membership.Role.VIEWER) -> Membership:
    membership, _ = Membership.objects.update_or_create(organization=organization, user=user, defaults={"role": role})
    return membership


def _normalize_scopes(scopes) -> list[str]:
    if isinstance(scopes, str):
        scopes = [s for s in scopes.replace(",", " ").split() if s]
    valid = {choice.value for choice in ApiToken.Scope}
    bad = [s for s in scopes if s not in valid]
    if bad or not scopes:
        raise DomainError("scopes must be one or more of: read, write", field="scopes")
    return sorted(set(scopes))


@transaction.atomic
def token_issue(
    *,
    organization: Organization,
    name: str,
    scopes,
    created_by=None,
    expires_at: datetime | None = None,
) -> IssuedToken:
    """Create a token and return its clear value, which is never stored and never shown again."""
    name = (name or "").strip()
    if not name:
        raise DomainError("a token needs a name", field="name")
    if expires_at is not None and timezone.is_naive(expires_at):
        raise DomainError("expires_at must carry a timezone", field="expires_at")
    normalized = _normalize_scopes(scopes)
    for _attempt in range(5):
        clear, prefix = _new_secret()
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    organization=organization,
                    name=name[:100],
                    scopes=normalized,
                    prefix=prefix,
                    token_hash=token_hash(clear),
                    created_by=created_by,
                    expires_at=expires_at,
                )
            return IssuedToken(token=token, clear=clear)
        except IntegrityError:  # a prefix collision: astronomically rare, try another secret
            continue
    raise RuntimeError("could not generate a unique token prefix")


@transaction.atomic
def token_regenerate(*, organization: Organization, token: ApiToken) -> IssuedToken:
    """Revoke ``token`` and issue a new one with the same name, scopes and expiry."""
    token = token_revoke(organization=organization, token=token)
    return token_issue(
        organization=organization,
        name=token.name,
        scopes=token.scopes,
        created_by=token.created_by,
        expires_at=token.expires_at,
    )


def token_revoke(*, organization: Organization, token: ApiToken) -> ApiToken:
    if token.organization_id != organization.pk:
        raise NotFound("no such token", field="token")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
    return token


def token_revoke_by_prefix(*, prefix: str) -> ApiToken:
    token = ApiToken.objects.select_related("organization").filter(prefix=prefix.strip()).first()
    if token is None:
        raise NotFound(f"no token with prefix '{prefix}'", field="prefix")
    return token_revoke(organization=token.organization, token=token)


class TokenRejected(Exception):
    """The token is missing from the database, revoked or expired; the message says which.

    ``reason`` is "invalid", "revoked" or "expired", for APIs (Multitudes) that answer a revoked
    key differently from an unknown one.
    """

    def __init__(self, message: str, reason: str = "invalid"):
        super().__init__(message)
        self.reason = reason


def token_authenticate(clear: str) -> ApiToken:
    """Return the active token for ``clear``. One indexed query, plus a last-used write at most once a minute."""
    digest = token_hash(clear)
    # Tokens are identity rows: always read on the primary, with their organization in the same query.
    token = ApiToken.objects.using(PRIMARY).select_related("organization").filter(token_hash=digest).first()
    # The lookup is by hash; comparing the digests again in constant time costs nothing and
    # keeps the check independent of how the database compares strings.
    if token is None or not secrets.compare_digest(token.token_hash, digest):
        raise TokenRejected("invalid token")
    if token.revoked_at is not None:
        raise TokenRejected("token has been revoked", reason="revoked")
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenRejected("token has expired", reason="expired")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.using(PRIMARY).filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def webhook_secret_ensure(*, organization: Organization, rotate: bool = False) -> tuple[str, bool]:
    """Return the organization's GitHub webhook secret, creating it when missing (or when ``rotate``).

    Returns ``(secret, created)``. The secret is random (256 bits, hex so it pastes anywhere).
    """
    if organization.github_webhook_secret and not rotate:
        return organization.github_webhook_secret, False
    organization.github_webhook_secret = secrets.token_hex(32)
    organization.save(update_fields=["github_webhook_secret", "updated_at"])
    return organization.github_webhook_secret, True


# GitHub deliveries ---------------------------------------------------------------------------

T = TypeVar("T")


@transaction.atomic
def github_delivery_once(
    *, organization: Organization, delivery_id: str, event: str, action: str, handle: Callable[[], T]
) -> tuple[bool, T | None]:
    """Handle a GitHub delivery once: ``handle()`` runs and the delivery is remembered, in one
    transaction. Returns ``(True, what handle returned)``, or ``(False, None)`` without running it
    for a delivery already handled (a redelivery, or the same one handled concurrently).

    A delivery whose handling raises is not remembered, so its redelivery (after a fix) is handled.
    """
    remembered = GitHubDelivery.objects.filter(organization=organization, delivery_id=delivery_id)
    if remembered.exists():
        return False, None
    action = action[: GitHubDelivery._meta.get_field("action").max_length]
    try:
        with transaction.atomic():
            GitHubDelivery.objects.create(
                organization=organization, delivery_id=delivery_id, event=event, action=action
            )
    except IntegrityError:
        return False, None
    return True, handle()
