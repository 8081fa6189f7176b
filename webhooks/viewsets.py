"""/api/v1/webhooks/: manage outgoing webhook endpoints and see their deliveries. Write scope only."""

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from releasetracker.api.schema import DETAIL_ERRORS, READ_ERRORS, WRITE_ERRORS, errors
from releasetracker.api.viewsets import OrganizationScopedViewSet
from webhooks import selectors, services
from webhooks.models import WebhookEndpoint
from webhooks.serializers import (
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointSerializer,
    WebhookEndpointUpdateSerializer,
    WebhookEndpointWriteSerializer,
)


@extend_schema_view(
    list=extend_schema(summary="List webhook endpoints", responses={200: WebhookEndpointSerializer, **READ_ERRORS}),
    retrieve=extend_schema(summary="A webhook endpoint", responses={200: WebhookEndpointSerializer, **DETAIL_ERRORS}),
    destroy=extend_schema(summary="Delete a webhook endpoint", responses={204: None, **DETAIL_ERRORS}),
)
class WebhookEndpointViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrganizationScopedViewSet
):
    model = WebhookEndpoint
    serializer_class = WebhookEndpointSerializer
    # Endpoint secrets and delivery payloads are sensitive: reading them needs the write scope.
    required_scope = "write"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def base_queryset(self):
        return selectors.endpoint_list(organization=self.organization)

    @extend_schema(
        summary="Add a webhook endpoint (its secret, and a chat format's URL, are shown in full only in this response)",
        request=WebhookEndpointWriteSerializer,
        responses={201: WebhookEndpointCreatedSerializer, **WRITE_ERRORS},
    )
    def create(self, request):
        serializer = WebhookEndpointWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_create(organization=self.organization, **serializer.validated_data)
        return self.created_response(
            endpoint, True, serializer_class=WebhookEndpointCreatedSerializer, detail_url_name="api:webhook-detail"
        )

    @extend_schema(
        summary="Change a webhook endpoint",
        request=WebhookEndpointUpdateSerializer,
        responses={200: WebhookEndpointSerializer, **errors(400, 401, 403, 404, 429)},
    )
    def partial_update(self, request, id=None):
        endpoint = self.get_object()
        serializer = WebhookEndpointUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(
            organization=self.organization, endpoint=endpoint, **serializer.validated_data
        )
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        summary="Deliveries to this endpoint, newest first (a cursor page, like every list)",
        responses={200: WebhookDeliverySerializer(many=True), **DETAIL_ERRORS},
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request, id=None):
        endpoint = self.get_object()
        page = self.paginate_queryset(selectors.delivery_list(organization=self.organization, endpoint=endpoint))
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(
        summary="Send a test message now",
        description="Posts a test message (event `webhook.test`, in the endpoint's format) at once, paused "
        "or not, and answers with its delivery: `state` `delivered`, or `pending` with the receiver's "
        "`last_status_code` and `last_response` (then retried like any delivery).",
        request=None,
        responses={200: WebhookDeliverySerializer, **DETAIL_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def test(self, request, id=None):
        endpoint = self.get_object()
        delivery = services.endpoint_test(organization=self.organization, endpoint=endpoint)
        return Response(WebhookDeliverySerializer(delivery).data)

    @extend_schema(
        summary="Queue a delivery again",
        parameters=[OpenApiParameter("delivery_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        request=None,
        responses={202: WebhookDeliverySerializer, **DETAIL_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_id>[^/]+)/redeliver")
    def redeliver(self, request, id=None, delivery_id=None):
        endpoint = self.get_object()
        try:
            key = uuid.UUID(delivery_id)
        except ValueError:
            raise NotFound("no such delivery") from None
        delivery = selectors.delivery_get(organization=self.organization, endpoint=endpoint, public_id=key)
        if delivery is None:
            raise NotFound("no such delivery")
        delivery = services.delivery_redeliver(organization=self.organization, delivery=delivery)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


def register(router) -> None:
    router.register("webhooks", WebhookEndpointViewSet, basename="webhook")
