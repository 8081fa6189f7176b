"""Native API for incidents: translate, call a service, render."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.response import Response

from incidents import selectors, services
from incidents.filters import IncidentFilter
from incidents.models import Incident, IncidentSource
from incidents.serializers import IncidentCreateSerializer, IncidentSerializer, IncidentUpdateSerializer
from releases.viewsets import creator
from releasetracker.api.pagination import CreatedCursorPagination
from releasetracker.api.schema import DETAIL_ERRORS, READ_ERRORS, errors
from releasetracker.api.viewsets import OrganizationScopedViewSet


class IncidentPagination(CreatedCursorPagination):
    ordering = ("-started_at", "-id")


@extend_schema_view(
    list=extend_schema(summary="List incidents, newest first", responses={200: IncidentSerializer, **READ_ERRORS}),
    retrieve=extend_schema(summary="An incident", responses={200: IncidentSerializer, **DETAIL_ERRORS}),
)
class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    model = Incident
    serializer_class = IncidentSerializer
    filterset_class = IncidentFilter
    pagination_class = IncidentPagination
    http_method_names = ["get", "post", "patch", "head", "options"]

    def base_queryset(self):
        return selectors.incident_list(organization=self.organization)

    @extend_schema(
        summary="Record an incident (idempotent by external_id)",
        request=IncidentCreateSerializer,
        responses={
            201: IncidentSerializer,
            303: OpenApiResponse(IncidentSerializer, description="the same external_id and payload again"),
            **errors(400, 401, 403, 409, 413, 422, 429),
        },
    )
    def create(self, request):
        serializer = IncidentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident, created = services.incident_create(
            organization=self.organization,
            source=IncidentSource.API,
            created_by=creator(request),
            **serializer.validated_data,
        )
        return self.created_response(incident, created, detail_url_name="api:incident-detail")

    @extend_schema(
        summary='Change or resolve an incident ({"status": "resolved"}; resolved_at defaults to now)',
        request=IncidentUpdateSerializer,
        responses={200: IncidentSerializer, **errors(400, 401, 403, 404, 429)},
    )
    def partial_update(self, request, id=None):
        incident = self.get_object()
        serializer = IncidentUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.incident_update(organization=self.organization, incident=incident, **serializer.validated_data)
        return Response(IncidentSerializer(self.base_queryset().get(pk=incident.pk)).data)


def register(router) -> None:
    router.register("incidents", IncidentViewSet, basename="incident")
