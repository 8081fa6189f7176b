"""Reads of webhook endpoints and their deliveries, scoped by organization."""

from django.db.models import Prefetch, QuerySet

from releasetracker.models import Organization
from webhooks.models import WebhookDelivery, WebhookEndpoint

RECENT_DELIVERIES = 5


def endpoint_list(*, organization: Organization) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.for_organization(organization).select_related("project", "environment")


def endpoint_list_with_recent_deliveries(*, organization: Organization) -> QuerySet[WebhookEndpoint]:
    """Endpoints with their newest few deliveries in ``recent_deliveries`` (one windowed query for all)."""
    return endpoint_list(organization=organization).prefetch_related(
        Prefetch(
            "deliveries",
            queryset=WebhookDelivery.objects.order_by("-created_at", "-id")[:RECENT_DELIVERIES],
            to_attr="recent_deliveries",
        )
    )


def endpoint_get(*, organization: Organization, public_id) -> WebhookEndpoint | None:
    return endpoint_list(organization=organization).filter(public_id=public_id).first()


def delivery_list(*, organization: Organization, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.for_organization(organization).filter(endpoint=endpoint)


def delivery_get(*, organization: Organization, endpoint: WebhookEndpoint, public_id) -> WebhookDelivery | None:
    return delivery_list(organization=organization, endpoint=endpoint).filter(public_id=public_id).first()
