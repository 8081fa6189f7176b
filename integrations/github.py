"""GitHub webhooks at /hooks/github/<org-slug>/ (docs/ci/github-webhooks.md), on the vendor base.

A delivery is authenticated by ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with the
organization's webhook secret) rather than by a token, so a valid signature is the whole
permission: there are no scopes. Each delivery is handled once per ``X-GitHub-Delivery``
(``github_delivery_once``); what each event becomes is ``integrations.github_events``.

``ping`` answers 200; any other event or action is acknowledged with 202 and ignored. Errors
are the native API's shape, ``{"error", "code", "fields"}``, which GitHub shows in its log.
"""

import hashlib
import hmac
import json
from dataclasses import dataclass

from django.http import HttpRequest, JsonResponse, QueryDict
from django.urls import path
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.parsers import BaseParser

from integrations.base import SignedHookView, invalid
from integrations.github_events import HANDLERS
from releasetracker.models import GitHubDelivery, Organization
from releasetracker.selectors import organization_get
from releasetracker.services import github_delivery_once

SIGNATURE_HEADER = "X-Hub-Signature-256"
# Compared against when the organization is unknown or has no secret, so those cases take the
# same path (and about the same time) as a wrong signature: the answer reveals no slug.
_NO_SECRET = b"no secret: this value never matches a GitHub signature"
BAD_SIGNATURE = (
    f"{SIGNATURE_HEADER} does not match: the webhook's secret must be the organization's webhook secret "
    "(`manage.py webhook_secret <org-slug>` prints it)"
)
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class SignedDelivery:
    """The principal of a delivery signed with an organization's webhook secret."""

    organization: Organization
    is_authenticated = True


def signed_by(org_slug: str, body: bytes, signature: str) -> Organization | None:
    """The organization whose webhook secret signed ``body``, or None (unknown slug, no secret, a wrong signature)."""
    organization = organization_get(slug=org_slug)
    secret = getattr(organization, "github_webhook_secret", "") or ""
    expected = "sha256=" + hmac.new(secret.encode() or _NO_SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")) or not secret:
        return None
    return organization


class GitHubSignatureAuthentication(BaseAuthentication):
    def authenticate(self, request):
        body = request.body  # read first: a body over the limit is a 413 whatever its signature
        signature = request.headers.get(SIGNATURE_HEADER, "").strip()
        if not signature:
            raise exceptions.NotAuthenticated(
                f"{SIGNATURE_HEADER} header is missing: set a secret on the GitHub webhook"
            )
        organization = signed_by(request.parser_context["kwargs"]["org_slug"], body, signature)
        if organization is None:
            raise exceptions.AuthenticationFailed(BAD_SIGNATURE)
        signed = SignedDelivery(organization)
        return signed, signed


class GitHubPayloadParser(BaseParser):
    """GitHub's JSON: the body, or the ``payload`` field of a hook whose content type is form-encoded."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None) -> dict:
        raw = stream.read()
        if (media_type or "").split(";")[0].strip() == FORM:
            raw = QueryDict(raw).get("payload", "")
        try:
            payload = json.loads(raw)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise exceptions.ParseError("is not valid JSON") from None
        if not isinstance(payload, dict):
            raise exceptions.ParseError("must be a JSON object")
        return payload


class Webhook(SignedHookView):
    authentication_classes = [GitHubSignatureAuthentication]
    parser_classes = [GitHubPayloadParser]
    kind = "GitHub webhooks"
    field_names = {"project": "repository.name", "ref": "deployment.ref"}

    @classmethod
    def signed_organization(cls, request: HttpRequest, org_slug: str) -> Organization | None:
        signature = request.headers.get(SIGNATURE_HEADER, "").strip()
        return signed_by(org_slug, request.body, signature) if signature else None

    def header(self, name: str, column: str) -> str:
        value = self.request.headers.get(name, "").strip()
        limit = GitHubDelivery._meta.get_field(column).max_length
        if not value or len(value) > limit:
            raise invalid(name, f"header is required (at most {limit} characters)")
        return value

    def payload(self) -> dict:
        if self.request.stream is None:  # an empty body, which DRF gives as {} without parsing
            raise exceptions.ParseError("is not valid JSON")
        return self.request.data

    def post(self, request, org_slug: str) -> JsonResponse:
        event = self.header("X-GitHub-Event", "event")
        delivery = self.header("X-GitHub-Delivery", "delivery_id")
        payload = self.payload()
        if event == "ping":
            return JsonResponse(
                {"ok": True, "note": f"pong: webhook accepted for organization {self.organization.slug}"}
            )
        handler = HANDLERS.get(event)
        if handler is None:
            return JsonResponse({"ok": True, "note": f"event '{event}' is not tracked; ignored"}, status=202)
        action = payload.get("action") if isinstance(payload.get("action"), str) else ""
        first, result = github_delivery_once(
            organization=self.organization,
            delivery_id=delivery,
            event=event,
            action=action,
            handle=lambda: handler(self.organization, payload),
        )
        if not first:
            return JsonResponse({"ok": True, "note": f"delivery {delivery} was already processed; nothing changed"})
        body = {"ok": True, "note": result.note, **result.details, "event": event, "delivery": delivery}
        return JsonResponse(body, status=result.status)


urlpatterns = [
    path("<slug:org_slug>/", Webhook.as_view(), name="github-webhook"),
    # Without the slash too: APPEND_SLASH cannot redirect a POST.
    path("<slug:org_slug>", Webhook.as_view()),
    Webhook.unknown_paths("github-unknown"),
]
