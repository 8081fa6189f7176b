"""Outgoing webhooks: endpoint management, the outbox writes, and the delivery worker's step.

``webhook_emit`` is called by the release and deployment services inside their transaction, so
a delivery exists exactly when the event it describes was committed. ``deliver_due`` is the
worker's step: it locks due deliveries with ``SKIP LOCKED`` so several workers never send one
delivery twice. A delivery holds the exact body to post: our signed JSON, or a chat service's
message (``webhooks.formats``), which is posted the same way but not signed.
"""

import hashlib
import hmac
import json
import random
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from deployments.models import Environment
from releases.models import Project
from releasetracker.errors import DomainError
from releasetracker.models import Organization
from releasetracker.validation import clean_text
from webhooks import formats, targets
from webhooks.messages import Message, endpoint_test_message
from webhooks.models import (
    CHAT_EVENTS,
    SUBSCRIBABLE_EVENTS,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookFormat,
)

USER_AGENT = "ReleaseTracker-Hookshot/1"


def _setting(name: str, default):
    return getattr(settings, name, default)


# Target validation ---------------------------------------------------------------------------


def check_target(url: str, *, field: str = "url") -> None:
    """Refuse non-http(s) URLs and targets that are not public addresses (``webhooks.targets``).

    This is the check when an endpoint is saved, from the API, the page or the admin; the worker
    checks again before each delivery and connects only to the address it checked.
    """
    targets.check_url(url, field=field)


# Endpoints -------------------------------------------------------------------------------------


def clean_format(format) -> str:
    if format not in WebhookFormat.values:
        raise DomainError(f"'{format}' is not one of: {', '.join(WebhookFormat.values)}", field="format")
    return format


# Each event once: a longer list repeats one, and is refused before its items are looked at.
MAX_EVENTS = len(SUBSCRIBABLE_EVENTS)


def clean_events(events, *, format: str = WebhookFormat.JSON) -> list[str]:
    """The events an endpoint of ``format`` subscribes to: any for JSON, those a chat message exists for otherwise."""
    allowed = [value for value, _ in SUBSCRIBABLE_EVENTS] if format == WebhookFormat.JSON else list(CHAT_EVENTS)
    if not isinstance(events, (list, tuple)) or not events:
        raise DomainError(f"choose one or more of: {', '.join(allowed)}", field="events")
    if len(events) > MAX_EVENTS:
        raise DomainError(f"at most {MAX_EVENTS} events, each once", field="events")
    bad = [e for e in events if e not in allowed]
    if bad:
        if format != WebhookFormat.JSON and bad[0] in WebhookEvent.values:
            raise DomainError(
                f"'{bad[0]}' has no chat message; a {format} webhook takes: {', '.join(allowed)}", field="events"
            )
        raise DomainError(f"unknown event '{bad[0]}'; choose from: {', '.join(allowed)}", field="events")
    return sorted(set(events))


def _clean_secret(secret, format: str) -> str:
    """A JSON endpoint's signing secret (generated when empty); chat formats are not signed and keep none."""
    secret = clean_text(secret, field="secret", max_length=128)
    if format != WebhookFormat.JSON:
        if secret:
            raise DomainError(f"{format} messages are not signed: leave the secret empty", field="secret")
        return ""
    return secret or secrets.token_hex(32)


def _lookup(model, organization: Organization, name: str | None, field: str):
    if not name:
        return None
    row = model.objects.for_organization(organization).filter(name=name).first()
    if row is None:
        raise DomainError(f"no {field} named '{name}'", field=field)
    return row


@transaction.atomic
def endpoint_create(
    *,
    organization: Organization,
    url: str,
    events,
    format: str = WebhookFormat.JSON,
    secret: str = "",
    project: str | None = None,
    environment: str | None = None,
    is_active: bool = True,
    description: str = "",
) -> WebhookEndpoint:
    """Add an endpoint. A chat format's URL is its credential: the caller shows it once, in the
    answer to this call, and ``WebhookEndpoint.display_url`` after."""
    format = clean_format(format)
    url = clean_text(url, field="url", max_length=500, required=True)
    check_target(url)
    endpoint = WebhookEndpoint.objects.create(
        organization=organization,
        url=url,
        format=format,
        secret=_clean_secret(secret, format),
        events=clean_events(events, format=format),
        project=_lookup(Project, organization, project, "project"),
        environment=_lookup(Environment, organization, environment, "environment"),
        is_active=bool(is_active),
        description=clean_text(description, field="description", max_length=200),
    )
    return endpoint


_MISSING = object()


@transaction.atomic
def endpoint_update(
    *,
    organization: Organization,
    endpoint: WebhookEndpoint,
    url=_MISSING,
    events=_MISSING,
    format=_MISSING,
    secret=_MISSING,
    project=_MISSING,
    environment=_MISSING,
    is_active=_MISSING,
    description=_MISSING,
) -> WebhookEndpoint:
    if endpoint.organization_id != organization.pk:
        raise DomainError("no such webhook", field="webhook")
    # Queued deliveries hold bodies of the endpoint's format: a new format is a new endpoint.
    if format is not _MISSING and format != endpoint.format:
        raise DomainError("cannot be changed: add a webhook with the new format and delete this one", field="format")
    if url is not _MISSING:
        endpoint.url = clean_text(url, field="url", max_length=500, required=True)
        check_target(endpoint.url)
    if events is not _MISSING:
        endpoint.events = clean_events(events, format=endpoint.format)
    if secret is not _MISSING:
        endpoint.secret = _clean_secret(secret, endpoint.format)
    if project is not _MISSING:
        endpoint.project = _lookup(Project, organization, project, "project")
    if environment is not _MISSING:
        endpoint.environment = _lookup(Environment, organization, environment, "environment")
    if is_active is not _MISSING:
        endpoint.is_active = bool(is_active)
    if description is not _MISSING:
        endpoint.description = clean_text(description, field="description", max_length=200)
    endpoint.save()
    return endpoint


# The outbox ----------------------------------------------------------------------------------


def _jsonable(data: dict) -> dict:
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def _envelope(delivery: WebhookDelivery, organization: Organization, occurred_at: datetime, data: dict) -> dict:
    return _jsonable(
        {
            "event": delivery.event,
            "delivery_id": str(delivery.public_id),
            "organization": organization.slug,
            "occurred_at": occurred_at,
            "data": data,
        }
    )


def webhook_emit(
    *,
    organization: Organization,
    events: Sequence[str],
    data: dict | Callable[[], dict],
    message: Callable[[str], Message] | None = None,
    project_id: int | None = None,
    environment_id: int | None = None,
) -> int:
    """Queue each of ``events`` for every active endpoint of the organization that wants it.

    Call it inside the transaction that writes the event: if that transaction rolls back, so do
    the deliveries, and nothing is ever sent for it. ``data`` may be a callable, so the payload is
    only built (and its related rows only read) when some endpoint wants the event. ``message``
    builds the chat message for an event (``webhooks.messages``), once per event, only when a
    chat endpoint wants it; each chat endpoint gets it in its own format. Returns the number of
    deliveries queued.
    """
    endpoints = [
        e
        for e in WebhookEndpoint.objects.for_organization(organization).filter(is_active=True)
        if (e.project_id is None or e.project_id == project_id)
        and (e.environment_id is None or e.environment_id == environment_id)
    ]
    wanted = [(endpoint, event) for event in events for endpoint in endpoints if event in endpoint.events]
    if not wanted:
        return 0
    body = None
    messages: dict[str, Message] = {}
    now = timezone.now()
    deliveries = []
    for endpoint, event in wanted:
        delivery = WebhookDelivery(organization=organization, endpoint=endpoint, event=event, next_attempt_at=now)
        if not endpoint.is_chat:
            if body is None:
                body = data() if callable(data) else data
            delivery.payload = _envelope(delivery, organization, now, body)
        elif message is not None:
            if event not in messages:
                messages[event] = message(event)
            delivery.payload = formats.render(endpoint.format, messages[event])
        else:
            continue  # no chat message for this event (clean_events keeps chat endpoints off it)
        deliveries.append(delivery)
    WebhookDelivery.objects.bulk_create(deliveries)
    return len(deliveries)


def deployment_data(deployment, *, previous_status: str | None = None) -> dict:
    return {
        "id": deployment.public_id,
        "environment": deployment.environment.name,
        "is_production": deployment.environment.is_production,
        "release": deployment.release.version if deployment.release_id else None,
        "release_id": deployment.release.public_id if deployment.release_id else None,
        "project": deployment.project.name if deployment.project_id else None,
        "commit_sha": deployment.commit_sha,
        "status": deployment.status,
        "previous_status": previous_status,
        "started_at": deployment.started_at,
        "finished_at": deployment.finished_at,
        "url": deployment.url,
        "is_hotfix": deployment.is_hotfix,
        "is_rollback": deployment.is_rollback,
    }


def release_data(release, *, project: Project | None = None) -> dict:
    return {
        "id": release.public_id,
        "version": release.version,
        "name": release.name,
        "ref": release.ref,
        "project": project.name if project else None,
    }


# Delivery ------------------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _post(url: str, body: bytes, headers: dict, timeout: float) -> targets.Answer:
    """One POST, after the same check as at save; redirects are answers, not instructions."""
    try:
        target = targets.resolve_target(url)
    except targets.Unresolvable as exc:
        return targets.Answer(False, None, exc.message[: targets.RESPONSE_EXCERPT])
    except DomainError as exc:
        return targets.Answer(False, None, f"refused: {exc.message}"[: targets.RESPONSE_EXCERPT])
    return targets.post(target, body, headers, timeout)


def backoff(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with up to 25 % jitter: base, 2×base, 4×base, ... capped."""
    base = _setting("WEBHOOKS_RETRY_BASE_SECONDS", 10)
    cap = _setting("WEBHOOKS_RETRY_MAX_SECONDS", 3600)
    delay = min(base * 2 ** max(attempts - 1, 0), cap)
    return timedelta(seconds=delay * (1 + (rng or random).random() * 0.25))


def _attempt(delivery: WebhookDelivery, *, now: datetime) -> None:
    body = formats.encode_body(delivery.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Release-Tracker-Event": delivery.event,
        "X-Release-Tracker-Delivery": str(delivery.public_id),
    }
    if not delivery.endpoint.is_chat:  # Slack, Teams and Discord verify nothing: their URL is the secret
        headers["X-Release-Tracker-Signature-256"] = sign(delivery.endpoint.secret, body)
    result = _post(delivery.endpoint.url, body, headers, _setting("WEBHOOKS_TIMEOUT_SECONDS", 5))
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = result.status_code
    delivery.last_response = result.response[: targets.RESPONSE_EXCERPT]
    if result.ok:
        delivery.state = WebhookDelivery.State.DELIVERED
        delivery.delivered_at = now
    elif delivery.attempts >= _setting("WEBHOOKS_MAX_ATTEMPTS", 8):
        delivery.state = WebhookDelivery.State.FAILED
    else:
        delivery.next_attempt_at = now + backoff(delivery.attempts)
    delivery.save(
        update_fields=[
            "attempts",
            "last_attempt_at",
            "last_status_code",
            "last_response",
            "state",
            "delivered_at",
            "next_attempt_at",
            "updated_at",
        ]
    )


def deliver_due(*, limit: int = 20, now: datetime | None = None) -> int:
    """Send up to ``limit`` due deliveries; return how many were attempted.

    The rows stay locked (FOR UPDATE SKIP LOCKED) while they are sent, so a second worker picks
    other rows, never the same ones.
    """
    now = now or timezone.now()
    with transaction.atomic():
        batch = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now, endpoint__is_active=True)
            .select_related("endpoint")
            .order_by("next_attempt_at", "id")[:limit]
        )
        for delivery in batch:
            _attempt(delivery, now=now)
    return len(batch)


def endpoint_test(*, organization: Organization, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a test message to ``endpoint`` now (paused or not) and return its delivery, with the answer.

    It is an ordinary delivery (event ``webhook.test``), in the log with the others: queued, then
    sent at once under the same row lock as the worker's, with the worker's checks. If the
    attempt fails it is retried like any delivery.
    """
    if endpoint.organization_id != organization.pk:
        raise DomainError("no such webhook", field="webhook")
    now = timezone.now()
    # Due only after the first retry delay: the worker leaves it to this call unless the process
    # running it dies before sending.
    delivery = WebhookDelivery(
        organization=organization, endpoint=endpoint, event=WebhookEvent.TEST, next_attempt_at=now + backoff(1)
    )
    if endpoint.is_chat:
        delivery.payload = formats.render(
            endpoint.format, endpoint_test_message(organization=organization, endpoint=endpoint)
        )
    else:
        data = {"webhook": str(endpoint.public_id), "events": endpoint.events}
        delivery.payload = _envelope(delivery, organization, now, data)
    delivery.save(force_insert=True)
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",)).select_related("endpoint").get(pk=delivery.pk)
        )
        _attempt(delivery, now=now)
    return delivery


def delivery_redeliver(*, organization: Organization, delivery: WebhookDelivery) -> WebhookDelivery:
    """Queue a delivery again from scratch (a manual retry after a fix on the receiving side)."""
    if delivery.organization_id != organization.pk:
        raise DomainError("no such delivery", field="delivery")
    delivery.state = WebhookDelivery.State.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = timezone.now()
    delivery.delivered_at = None
    delivery.save(update_fields=["state", "attempts", "next_attempt_at", "delivered_at", "updated_at"])
    return delivery


def endpoint_delete(*, organization: Organization, endpoint: WebhookEndpoint) -> None:
    """Delete an endpoint with its delivery log."""
    if endpoint.organization_id != organization.pk:
        raise DomainError("no such webhook", field="webhook")
    endpoint.delete()
