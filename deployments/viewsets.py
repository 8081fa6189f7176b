"""Native API for environments and deployments: translate, call a service, render."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.response import Response

from deployments import selectors, services
from deployments.filters import DeploymentFilter
from deployments.models import Deployment, Environment
from deployments.serializers import (
    DeploymentCreateSerializer,
    DeploymentSerializer,
    DeploymentUpdateSerializer,
    EnvironmentSerializer,
    EnvironmentUpdateSerializer,
)
from releases.models import Source
from releases.viewsets import creator
from releasetracker.api.pagination import CreatedCursorPagination
from releasetracker.api.schema import DETAIL_ERRORS, READ_ERRORS, WRITE_ERRORS, errors
from releasetracker.api.viewsets import OrganizationScopedViewSet


class DeploymentPagination(CreatedCursorPagination):
    ordering = ("-occurred_at", "-id")


@extend_schema_view(
    list=extend_schema(summary="List deployments, newest first", responses={200: DeploymentSerializer, **READ_ERRORS}),
    retrieve=extend_schema(
        summary="A deployment with its status history", responses={200: DeploymentSerializer, **DETAIL_ERRORS}
    ),
)
class DeploymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    model = Deployment
    serializer_class = DeploymentSerializer
    filterset_class = DeploymentFilter
    pagination_class = DeploymentPagination
    http_method_names = ["get", "post", "patch", "head", "options"]

    def base_queryset(self):
        return selectors.deployment_list(organization=self.organization)

    @extend_schema(
        summary="Record a deployment (idempotent by external_id per environment)",
        request=DeploymentCreateSerializer,
        responses={
            201: DeploymentSerializer,
            303: OpenApiResponse(DeploymentSerializer, description="same external_id again: the existing deployment"),
            **WRITE_ERRORS,
        },
    )
    def create(self, request):
        serializer = DeploymentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deployment, created = services.deployment_record(
            organization=self.organization, source=Source.API, created_by=creator(request), **serializer.validated_data
        )
        if not created:
            # A new row comes back with its environment, release, project and history in memory;
            # a repeat is read whole.
            deployment = self.base_queryset().get(pk=deployment.pk)
        return self.created_response(deployment, created, detail_url_name="api:deployment-detail")

    @extend_schema(
        summary="Change a deployment's status (kept in its history) or its descriptive fields",
        request=DeploymentUpdateSerializer,
        responses={200: DeploymentSerializer, **errors(400, 401, 403, 404, 429)},
    )
    def partial_update(self, request, id=None):
        deployment = self.get_object()
        serializer = DeploymentUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.deployment_update(organization=self.organization, deployment=deployment, **serializer.validated_data)
        return Response(DeploymentSerializer(self.base_queryset().get(pk=deployment.pk)).data)


@extend_schema_view(
    list=extend_schema(summary="List environments", responses={200: EnvironmentSerializer, **READ_ERRORS}),
    retrieve=extend_schema(summary="An environment", responses={200: EnvironmentSerializer, **DETAIL_ERRORS}),
)
class EnvironmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    model = Environment
    serializer_class = EnvironmentSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def base_queryset(self):
        return selectors.environment_list(organization=self.organization)

    @extend_schema(
        summary="Create an environment (303 to the existing one when the name is taken)",
        responses={201: EnvironmentSerializer, 303: EnvironmentSerializer, **WRITE_ERRORS},
    )
    def create(self, request):
        serializer = EnvironmentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        name = serializer.validated_data["name"]
        existing = self.base_queryset().filter(name=name.strip()).first()
        if existing is not None:
            return self.created_response(existing, False, detail_url_name="api:environment-detail")
        env = services.environment_get_or_create(organization=self.organization, name=name, field_name="name")
        if "is_production" in serializer.validated_data:
            env = services.environment_update(
                organization=self.organization,
                environment=env,
                is_production=serializer.validated_data["is_production"],
            )
        return self.created_response(env, True, detail_url_name="api:environment-detail")

    @extend_schema(
        summary="Rename an environment or change whether it counts as production",
        request=EnvironmentUpdateSerializer,
        responses={200: EnvironmentSerializer, **errors(400, 401, 403, 404, 409, 429)},
    )
    def partial_update(self, request, id=None):
        env = self.get_object()
        serializer = EnvironmentUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        env = services.environment_update(organization=self.organization, environment=env, **serializer.validated_data)
        return Response(EnvironmentSerializer(env).data)


def register(router) -> None:
    router.register("deployments", DeploymentViewSet, basename="deployment")
    router.register("environments", EnvironmentViewSet, basename="environment")
