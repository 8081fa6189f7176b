"""Native API for environments and deployments: translate, call a service, render."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from deployments import selectors, services
from deployments.filters import DeploymentFilter
from deployments.models import Deployment, Environment
from deployments.serializers import (
    DeploymentCreateSerializer,
    DeploymentRowSerializer,
    DeploymentSerializer,
    DeploymentUpdateSerializer,
    EnvironmentSerializer,
    EnvironmentUpdateSerializer,
    LiveCellSerializer,
    LivePageSerializer,
    LiveQuerySerializer,
)
from releases.models import Source
from releases.viewsets import creator
from releasetracker.api.csv import CSVListMixin
from releasetracker.api.pagination import CreatedCursorPagination
from releasetracker.api.schema import DETAIL_ERRORS, READ_ERRORS, WRITE_ERRORS, errors
from releasetracker.api.viewsets import OrganizationScopedViewSet


class DeploymentPagination(CreatedCursorPagination):
    ordering = ("-occurred_at", "-id")


LIVE_EXAMPLE = {
    "count": 1,
    "next": None,
    "previous": None,
    "environments": [{"name": "production", "is_production": True}, {"name": "staging", "is_production": False}],
    "results": [
        {
            "project": "web",
            "environment": "production",
            "is_production": True,
            "deployment": "6f1c0f4e-8a55-4a3e-9d8e-0c1f2b3a4d5e",
            "release": "1.4.0",
            "commit_sha": "",
            "deployed_at": "2026-03-02T09:40:00Z",
            "deployed_by": "alice",
            "behind": 2,
            "stale": True,
        }
    ],
}


def live_matrix_page(request, organization):
    """The live matrix's page the query string asks for: (environments shown, rows, count, page,
    page size). Bad values are a 400 naming the parameter; ``behind`` is counted over every
    environment whatever the ``environment`` filter."""
    query = LiveQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    params = query.validated_data
    environments = list(selectors.environment_live_environments(organization=organization))
    shown = environments
    if "environment" in params:
        shown = [env for env in environments if env.name == params["environment"]]
        if not shown:
            raise ValidationError({"environment": ["no such environment"]})
    projects = selectors.environment_live_projects(organization=organization, environments=environments)
    if "project" in params:
        projects = projects.filter(name=params["project"])
    # Deployments of no project make a last row, unless one project is asked for.
    unassigned = "project" not in params and any(env.live_unassigned for env in environments)
    total = projects.count()
    if "project" in params and not total:
        raise ValidationError({"project": ["no such project"]})
    count = total + unassigned
    page, size = params["page"], params["page_size"]
    start = (page - 1) * size
    if start and start >= count:
        raise ValidationError({"page": [f"there are {max(1, -(-count // size))} pages of {size}"]})
    rows = selectors.environment_live_matrix(
        organization=organization,
        projects=list(projects[start : start + size]),
        environments=environments,
        include_unassigned=unassigned and start + size >= count,
    )
    wanted = {env.pk for env in shown}
    for row in rows:
        row.cells[:] = [cell for cell in row.cells if cell.environment.pk in wanted]
    return shown, rows, count, page, size


@extend_schema_view(
    list=extend_schema(summary="List deployments, newest first", responses={200: DeploymentSerializer, **READ_ERRORS}),
    retrieve=extend_schema(
        summary="A deployment with its status history", responses={200: DeploymentSerializer, **DETAIL_ERRORS}
    ),
)
class DeploymentViewSet(CSVListMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    model = Deployment
    serializer_class = DeploymentSerializer
    csv_serializer_class = DeploymentRowSerializer
    csv_filename = "deployments.csv"
    filterset_class = DeploymentFilter
    pagination_class = DeploymentPagination
    http_method_names = ["get", "post", "patch", "head", "options"]

    def base_queryset(self):
        return selectors.deployment_list(organization=self.organization)

    def csv_queryset(self, queryset):
        # A row has no status history: not read for a download.
        return queryset.prefetch_related(None)

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
        summary="What is live where: each project's latest successful deployment per environment",
        description=(
            "Paginated by project (`page`, `page_size` up to 100): each page holds the live cells of its "
            "projects, across every environment (or the one `environment` names). Deployments of no "
            "project make the last row (`project: null`). `behind` counts the project's releases newer "
            "than the live one, in timeline order, up to the newest release live in any of its "
            "environments; `stale` is `behind > 0`."
        ),
        parameters=[
            OpenApiParameter("project", OpenApiTypes.STR, description="one project (400 when there is none)"),
            OpenApiParameter("environment", OpenApiTypes.STR, description="one environment (400 when there is none)"),
            OpenApiParameter("page", OpenApiTypes.INT, description="1-based"),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="projects per page: 1 to 100, default 50"),
        ],
        responses={200: LivePageSerializer, **READ_ERRORS},
        examples=[OpenApiExample("Two environments, one project", value=LIVE_EXAMPLE, response_only=True)],
    )
    @action(detail=False, methods=["get"], url_path="live", pagination_class=None)
    def live(self, request):
        shown, rows, count, page, size = live_matrix_page(request, self.organization)
        url = request.build_absolute_uri()
        return Response(
            {
                "count": count,
                "next": replace_query_param(url, "page", page + 1) if page * size < count else None,
                "previous": replace_query_param(url, "page", page - 1) if page > 1 else None,
                "environments": [{"name": env.name, "is_production": env.is_production} for env in shown],
                "results": LiveCellSerializer(
                    [cell for row in rows for cell in row.cells if cell.deployment is not None], many=True
                ).data,
            }
        )

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
