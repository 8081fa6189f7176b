"""Incoming incident hooks (docs/incidents.md): PagerDuty, Opsgenie and a generic JSON form.

Each lives at /hooks/<kind>/<org-slug>/ and is authenticated by the organization's secret for
that kind (``IncidentSettings``), not by a token: PagerDuty signs the raw body with HMAC-SHA256
in ``X-PagerDuty-Signature`` (``v1=<hex>``, several comma-separated while a secret rotates);
the generic hook signs ``<timestamp>.<body>`` (``X-Signature-256: sha256=<hex>``, the Unix
time in ``X-Signature-Timestamp``, refused more than 5 minutes from now); Opsgenie cannot sign,
so its webhook integration sends the secret itself in the custom header ``X-Webhook-Secret``.
A missing or wrong signature is a 401. A delivery that proves its secret is not held to the
per-IP rate limit (``SignedHookView.rate_limit_exempt``).

Each event is handled once (``incident_event_once``), by an id the signature covers:
PagerDuty's ``event.id``; Opsgenie's alert id and action; for the generic hook the body's
``event_id``, else the body's SHA-256. An event
type that says nothing about an incident starting or ending answers 202 and changes nothing.
The hook URL may name the environment and project (``?environment=staging&project=api``) for
tools whose payload does not. Errors are the native API's shape, as the GitHub hook's are.
"""

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.http import HttpRequest, JsonResponse
from django.urls import path
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from incidents.models import IncidentEvent, IncidentSource, IncidentStatus
from incidents.selectors import incident_secret
from incidents.services import incident_event_once, incident_report
from integrations.base import JSONObjectParser, SignedHookView, invalid
from releasetracker.api.fields import parse_aware
from releasetracker.models import Organization
from releasetracker.selectors import organization_get

# Compared against when the organization is unknown or has no secret, so those cases take the
# same path as a wrong signature: the answer reveals no slug.
_NO_SECRET = b"no secret: this value never matches a signature"
# Query parameters of a hook URL: where the tool's incidents happen.
URL_OPTIONS = ("environment", "project")
EVENT_ID_LENGTH = IncidentEvent._meta.get_field("event_id").max_length


@dataclass(frozen=True)
class SignedEvent:
    """The principal of an event signed with an organization's hook secret."""

    organization: Organization
    is_authenticated = True


def _hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode() or _NO_SECRET, body, hashlib.sha256).hexdigest()


class HookAuthentication(BaseAuthentication):
    """The organization named by the URL, when the request proves it knows that organization's secret."""

    source = ""
    header = ""
    how = ""  # how a sender proves it knows the secret, for the 401's message

    def authenticate_header(self, request) -> str:
        return self.header

    def authenticate(self, request):
        signed = SignedEvent(self.organization(request, request.parser_context["kwargs"]["org_slug"]))
        return signed, signed

    def organization(self, request, org_slug: str) -> Organization:
        """The organization of ``org_slug`` if ``request`` is signed with its secret; else the 401 saying why."""
        body = request.body  # read first: a body over the limit is a 413 whatever its signature
        presented = request.headers.get(self.header, "").strip()
        if not presented:
            raise exceptions.NotAuthenticated(f"{self.header} header is missing: {self.how}")
        signed = self.signed_content(request, body)
        organization = organization_get(slug=org_slug)
        secret = incident_secret(organization=organization, source=self.source) if organization else ""
        if not self.matches(secret, signed, presented) or not secret:
            raise exceptions.AuthenticationFailed(
                f"{self.header} does not match: {self.how} (the secret is on the organization's incident settings)"
            )
        self.check_fresh(request)
        return organization

    def signed_content(self, request, body: bytes) -> bytes:
        """What the signature covers: the raw body unless the scheme says otherwise."""
        return body

    def check_fresh(self, request) -> None:
        """Refuse a correctly signed request that is too old to be a delivery (a replay)."""

    def matches(self, secret: str, signed: bytes, presented: str) -> bool:
        raise NotImplementedError


class PagerDutySignature(HookAuthentication):
    source = IncidentSource.PAGERDUTY
    header = "X-PagerDuty-Signature"
    how = "PagerDuty signs with the webhook subscription's secret"
    # A rotation sends a signature per secret; a handful is all PagerDuty ever sends.
    MAX_SIGNATURES = 10

    def matches(self, secret: str, signed: bytes, presented: str) -> bool:
        expected = f"v1={_hmac_hex(secret, signed)}".encode()
        found = False
        for signature in presented.split(",", self.MAX_SIGNATURES)[: self.MAX_SIGNATURES]:
            found |= hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace"))
        return found


class GenericSignature(HookAuthentication):
    """``X-Signature-256: sha256=<hex>``, the HMAC-SHA256 of ``<timestamp>.<body>``, with the Unix
    time of signing in ``X-Signature-Timestamp``: a captured request is refused once
    ``TOLERANCE`` has passed, and within it the event id comes from the signed body."""

    source = IncidentSource.GENERIC
    header = "X-Signature-256"
    timestamp_header = "X-Signature-Timestamp"
    how = (
        "sign '<timestamp>.<raw body>' with HMAC-SHA256 and the generic hook secret, as sha256=<hex>, "
        "with the same Unix timestamp in X-Signature-Timestamp"
    )
    TOLERANCE = 300  # seconds either way, as Slack and Stripe allow
    TIMESTAMP = re.compile(r"^[0-9]{1,12}$")

    def timestamp(self, request) -> int:
        value = request.headers.get(self.timestamp_header, "").strip()
        if not value:
            raise exceptions.NotAuthenticated(f"{self.timestamp_header} header is missing: {self.how}")
        if not self.TIMESTAMP.match(value):
            raise exceptions.AuthenticationFailed(
                f"{self.timestamp_header} must be the Unix time of signing in whole seconds"
            )
        return int(value)

    def signed_content(self, request, body: bytes) -> bytes:
        return f"{self.timestamp(request)}.".encode() + body

    def check_fresh(self, request) -> None:
        skew = int(time.time()) - self.timestamp(request)
        if abs(skew) > self.TOLERANCE:
            when = f"{skew} seconds old" if skew > 0 else f"{-skew} seconds in the future"
            raise exceptions.AuthenticationFailed(
                f"{self.timestamp_header} is {when}: a signature is accepted for {self.TOLERANCE // 60} minutes "
                "either side of now (a replayed or delayed request, or the sender's clock is wrong); sign it again"
            )

    def matches(self, secret: str, signed: bytes, presented: str) -> bool:
        return hmac.compare_digest(f"sha256={_hmac_hex(secret, signed)}".encode(), presented.encode("utf-8", "replace"))


class OpsgenieSecret(HookAuthentication):
    source = IncidentSource.OPSGENIE
    header = "X-Webhook-Secret"
    how = "add it as a custom header of the Opsgenie webhook integration, with the Opsgenie secret as its value"

    def matches(self, secret: str, signed: bytes, presented: str) -> bool:
        # Compared as digests, so the comparison takes the same time whatever the lengths.
        return hmac.compare_digest(_hmac_hex(secret, b""), _hmac_hex(presented, b""))


# Payload access: each getter names the JSON path at fault ---------------------------------------


def _obj(data: dict, key: str, where: str) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise invalid(where, "must be an object")
    return value


def _str(data: dict, key: str, where: str, *, required: bool = True) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and not required:
        return str(value)
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid(where, "must be a non-empty string" if required else "must be a string")
    return value.strip()


def _time(data: dict, key: str, where: str) -> datetime | None:
    value = data.get(key)
    if value in (None, ""):
        return None
    try:
        return parse_aware(value)
    except ValueError as exc:
        raise invalid(where, str(exc)) from None


def _epoch_ms(data: dict, key: str, where: str) -> datetime | None:
    """Opsgenie's times: milliseconds since 1970 (an ISO 8601 string is taken too)."""
    value = data.get(key)
    if value in (None, ""):
        return None
    if isinstance(value, str):
        return _time(data, key, where)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e14:
        raise invalid(where, "must be a time in milliseconds since 1970")
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def _report(status: str, *, resolved_at: datetime | None, **fields) -> dict:
    """What ``incident_report`` is given for an event: a resolution time only when it resolves."""
    return {"status": status, "resolved_at": resolved_at if status == IncidentStatus.RESOLVED else None, **fields}


@dataclass(frozen=True)
class Event:
    """One hook event, in our words: what ``incident_report`` needs, or None to ignore it."""

    event_id: str
    event_type: str
    report: dict | None


class IncidentHook(SignedHookView):
    parser_classes = [JSONObjectParser]
    kind = "incident hooks"
    source = ""
    created_by = ""

    @property
    def organization(self) -> Organization:
        return self.request.auth.organization

    @classmethod
    def signed_organization(cls, request: HttpRequest, org_slug: str) -> Organization | None:
        try:
            return cls.authentication_classes[0]().organization(request, org_slug)
        except exceptions.APIException:
            return None

    def url_options(self) -> dict:
        options = {}
        for name in URL_OPTIONS:
            value = self.request.query_params.get(name, "")
            if value.strip():
                options[name] = value
        return options

    def event(self, payload: dict) -> Event:
        raise NotImplementedError

    def post(self, request, org_slug: str) -> JsonResponse:
        event = self.event(self.body())
        if event.report is None:
            return JsonResponse(
                {"ok": True, "note": f"event '{event.event_type}' is not an incident starting or ending; ignored"},
                status=202,
            )
        report = {**self.url_options(), **event.report}
        first, result = incident_event_once(
            organization=self.organization,
            source=self.source,
            event_id=event.event_id,
            event_type=event.event_type,
            handle=lambda: incident_report(
                organization=self.organization, source=self.source, created_by=self.created_by, **report
            ),
        )
        if not first:
            return JsonResponse({"ok": True, "note": f"event {event.event_id} was already processed; nothing changed"})
        incident, what = result
        return JsonResponse(
            {
                "ok": True,
                "note": f"incident {what}",
                "incident": str(incident.public_id),
                "status": incident.status,
                "event": event.event_type,
            }
        )


class PagerDutyHook(IncidentHook):
    """PagerDuty Webhooks V3: ``incident.triggered`` opens an incident, ``incident.resolved`` resolves it."""

    authentication_classes = [PagerDutySignature]
    source = IncidentSource.PAGERDUTY
    created_by = "PagerDuty webhook"
    field_names = {
        "title": "event.data.title",
        "external_id": "event.data.id",
        "url": "event.data.html_url",
        "severity": "event.data.priority.summary",
        "started_at": "event.data.created_at",
        "resolved_at": "event.occurred_at",
        "occurred_at": "event.occurred_at",
    }
    STATUSES = {"incident.triggered": IncidentStatus.OPEN, "incident.resolved": IncidentStatus.RESOLVED}

    def event(self, payload: dict) -> Event:
        event = _obj(payload, "event", "event")
        event_id = _str(event, "id", "event.id")
        event_type = _str(event, "event_type", "event.event_type")
        status = self.STATUSES.get(event_type)
        if status is None:
            return Event(event_id, event_type, None)
        data = _obj(event, "data", "event.data")
        if data.get("type") != "incident":
            raise invalid("event.data.type", "must be 'incident' for an incident event")
        priority = data.get("priority")
        if priority is not None and not isinstance(priority, dict):
            raise invalid("event.data.priority", "must be an object or null")
        severity = _str(priority, "summary", "event.data.priority.summary", required=False) if priority else ""
        occurred_at = _time(event, "occurred_at", "event.occurred_at")
        report = _report(
            status,
            external_id=_str(data, "id", "event.data.id"),
            title=_str(data, "title", "event.data.title"),
            started_at=_time(data, "created_at", "event.data.created_at") or occurred_at,
            resolved_at=occurred_at,
            occurred_at=occurred_at,
            url=_str(data, "html_url", "event.data.html_url", required=False),
            severity=severity or _str(data, "urgency", "event.data.urgency", required=False),
        )
        return Event(event_id, event_type, report)


class OpsgenieHook(IncidentHook):
    """Opsgenie's webhook integration: alert ``Create`` opens an incident, ``Close`` resolves it."""

    authentication_classes = [OpsgenieSecret]
    source = IncidentSource.OPSGENIE
    created_by = "Opsgenie webhook"
    field_names = {
        "title": "alert.message",
        "external_id": "alert.alertId",
        "severity": "alert.priority",
        "started_at": "alert.createdAt",
        "resolved_at": "alert.updatedAt",
        "occurred_at": "alert.createdAt",
    }
    STATUSES = {"Create": IncidentStatus.OPEN, "Close": IncidentStatus.RESOLVED}

    def event(self, payload: dict) -> Event:
        action = _str(payload, "action", "action")
        alert = _obj(payload, "alert", "alert")
        alert_id = _str(alert, "alertId", "alert.alertId")
        # Opsgenie sends no event id; an alert is created once and closed once.
        event_id = f"{alert_id}:{action}"
        status = self.STATUSES.get(action)
        if status is None:
            return Event(event_id, action, None)
        started_at = _epoch_ms(alert, "createdAt", "alert.createdAt")
        report = _report(
            status,
            external_id=alert_id,
            title=_str(alert, "message", "alert.message"),
            started_at=started_at,
            resolved_at=_epoch_ms(alert, "updatedAt", "alert.updatedAt") if status == IncidentStatus.RESOLVED else None,
            # A Create that arrives after its Close is older news (an alert does not reopen).
            occurred_at=started_at,
            severity=_str(alert, "priority", "alert.priority", required=False),
        )
        return Event(event_id, action, report)


class GenericHook(IncidentHook):
    """Anything else (Grafana, Alertmanager, a script): our own JSON form, signed like GitHub's hook."""

    authentication_classes = [GenericSignature]
    source = IncidentSource.GENERIC
    created_by = "incident webhook"
    field_names = {"external_id": "id", "occurred_at": "started_at"}
    STATUSES = {
        "open": IncidentStatus.OPEN,
        "firing": IncidentStatus.OPEN,
        "triggered": IncidentStatus.OPEN,
        "resolved": IncidentStatus.RESOLVED,
    }
    TEXT = ("severity", "environment", "project", "commit_sha", "url", "deployment")

    def event(self, payload: dict) -> Event:
        if "X-Event-Id" in self.request.headers:
            # A header outside the signature would let a replay pass as a new event.
            raise invalid("X-Event-Id", "is not covered by the signature: send the event id as the body's event_id")
        raw_status = _str(payload, "status", "status")
        # The id comes from the signed body only: its event_id, else the body's own digest.
        event_id = _str(payload, "event_id", "event_id", required=False)
        if len(event_id) > EVENT_ID_LENGTH:
            raise invalid("event_id", f"must be at most {EVENT_ID_LENGTH} characters")
        event_id = event_id or hashlib.sha256(self.request.body).hexdigest()
        status = self.STATUSES.get(raw_status.lower())
        if status is None:
            return Event(event_id, raw_status, None)
        started_at = _time(payload, "started_at", "started_at")
        text = {name: _str(payload, name, name, required=False) for name in self.TEXT}
        report = _report(
            status,
            external_id=_str(payload, "id", "id"),
            title=_str(payload, "title", "title"),
            started_at=started_at,
            resolved_at=_time(payload, "resolved_at", "resolved_at") if status == IncidentStatus.RESOLVED else None,
            # Firing again with the start it had before its resolution is a late delivery, not a new start.
            occurred_at=started_at,
            **{name: value for name, value in text.items() if value},
        )
        return Event(event_id, f"incident.{status}", report)


def _routes(view, prefix: str) -> list:
    return [
        path("<slug:org_slug>/", view.as_view(), name=f"{prefix}-hook"),
        # Without the slash too: APPEND_SLASH cannot redirect a POST.
        path("<slug:org_slug>", view.as_view()),
        view.unknown_paths(f"{prefix}-unknown"),
    ]


pagerduty_urlpatterns = _routes(PagerDutyHook, "pagerduty")
opsgenie_urlpatterns = _routes(OpsgenieHook, "opsgenie")
generic_urlpatterns = _routes(GenericHook, "incidents")
