"""Native API for releases, commits, projects and repositories: translate, call a service, render."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from deployments import selectors as deployment_selectors
from releases import selectors, services
from releases.filters import CommitFilter, ReleaseFilter
from releases.models import Commit, Project, Release, Repository, Source
from releases.serializers import (
    AddCommitsResultSerializer,
    AddCommitsSerializer,
    CommitSerializer,
    ProjectSerializer,
    ReleaseCreateSerializer,
    ReleaseDetailSerializer,
    ReleaseSerializer,
    ReleaseUpdateSerializer,
    RepositorySerializer,
)
from releasetracker.api.csv import CSVListMixin
from releasetracker.api.schema import DETAIL_ERRORS, READ_ERRORS, WRITE_ERRORS, errors
from releasetracker.api.viewsets import OrganizationScopedViewSet


def creator(request) -> str:
    return f"token {request.auth.name} ({request.auth.prefix})"


@extend_schema_view(
    list=extend_schema(summary="List releases, newest first", responses={200: ReleaseSerializer, **READ_ERRORS}),
    retrieve=extend_schema(
        summary="A release with its commits and deployments", responses={200: ReleaseDetailSerializer, **DETAIL_ERRORS}
    ),
)
class ReleaseViewSet(
    CSVListMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    OrganizationScopedViewSet,
):
    model = Release
    serializer_class = ReleaseSerializer
    csv_serializer_class = ReleaseSerializer
    csv_filename = "releases.csv"
    filterset_class = ReleaseFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def base_queryset(self):
        if self.action == "retrieve":
            return deployment_selectors.release_detail(organization=self.organization)
        return selectors.release_list(organization=self.organization)

    def get_serializer_class(self):
        return ReleaseDetailSerializer if self.action == "retrieve" else ReleaseSerializer

    @extend_schema(
        summary="Create a release (idempotent)",
        request=ReleaseCreateSerializer,
        responses={
            201: ReleaseDetailSerializer,
            303: OpenApiResponse(ReleaseDetailSerializer, description="the same payload again: the existing release"),
            **errors(400, 401, 403, 409, 413, 422, 429),
        },
    )
    def create(self, request):
        serializer = ReleaseCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        release, created = services.release_create(
            organization=self.organization,
            source=Source.API,
            created_by=creator(request),
            **serializer.validated_data,
        )
        if not created:
            # A new release comes back with what its detail shows; a repeat is read whole.
            release = deployment_selectors.release_detail(organization=self.organization).get(pk=release.pk)
        return self.created_response(
            release, created, serializer_class=ReleaseDetailSerializer, detail_url_name="api:release-detail"
        )

    @extend_schema(
        summary="Change a release's status, name, url, ref, date or projects",
        request=ReleaseUpdateSerializer,
        responses={200: ReleaseSerializer, **errors(400, 401, 403, 404, 429)},
    )
    def partial_update(self, request, id=None):
        release = self.get_object()
        serializer = ReleaseUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.release_update(organization=self.organization, release=release, **serializer.validated_data)
        release = selectors.release_list(organization=self.organization).get(pk=release.pk)
        return Response(ReleaseSerializer(release).data)

    @extend_schema(
        summary="Append commits to a release",
        request=AddCommitsSerializer,
        responses={201: AddCommitsResultSerializer, **errors(400, 401, 403, 404, 413, 422, 429)},
    )
    @action(detail=True, methods=["post"], url_path="commits")
    def add_commits(self, request, id=None):
        release = self.get_object()
        serializer = AddCommitsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        stored = services.release_add_commits(
            organization=self.organization, release=release, **serializer.validated_data
        )
        return Response(
            {"release": release.public_id, "added": len(stored), "commit_count": release.release_commits.count()},
            status=status.HTTP_201_CREATED,
        )


@extend_schema_view(
    list=extend_schema(summary="Find commits (filter by sha prefix)", responses={200: CommitSerializer, **READ_ERRORS}),
    retrieve=extend_schema(summary="A commit", responses={200: CommitSerializer, **DETAIL_ERRORS}),
)
class CommitViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    model = Commit
    serializer_class = CommitSerializer
    filterset_class = CommitFilter

    def base_queryset(self):
        return selectors.commit_list(organization=self.organization)


class _NamedLookupViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet):
    """Projects and repositories: created on first use by other writes, or explicitly here."""

    http_method_names = ["get", "post", "head", "options"]

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instance, created = self.perform_get_or_create(serializer.validated_data)
        return self.created_response(instance, created, detail_url_name=self.detail_url_name)


@extend_schema_view(
    list=extend_schema(summary="List projects", responses={200: ProjectSerializer, **READ_ERRORS}),
    retrieve=extend_schema(summary="A project", responses={200: ProjectSerializer, **DETAIL_ERRORS}),
    create=extend_schema(
        summary="Create a project (303 to the existing one when the name is taken)",
        responses={201: ProjectSerializer, 303: ProjectSerializer, **WRITE_ERRORS},
    ),
)
class ProjectViewSet(_NamedLookupViewSet):
    model = Project
    serializer_class = ProjectSerializer
    detail_url_name = "api:project-detail"

    def base_queryset(self):
        return selectors.project_list(organization=self.organization)

    def perform_get_or_create(self, data):
        before = selectors.project_get(organization=self.organization, name=data["name"].strip())
        if before is not None:
            return before, False
        return services.project_get_or_create(
            organization=self.organization, name=data["name"], field_name="name"
        ), True


@extend_schema_view(
    list=extend_schema(summary="List repositories", responses={200: RepositorySerializer, **READ_ERRORS}),
    retrieve=extend_schema(summary="A repository", responses={200: RepositorySerializer, **DETAIL_ERRORS}),
    create=extend_schema(
        summary="Register a repository (303 to the existing one when the name is taken)",
        responses={201: RepositorySerializer, 303: RepositorySerializer, **WRITE_ERRORS},
    ),
)
class RepositoryViewSet(_NamedLookupViewSet):
    model = Repository
    serializer_class = RepositorySerializer
    detail_url_name = "api:repository-detail"

    def base_queryset(self):
        return selectors.repository_list(organization=self.organization)

    def perform_get_or_create(self, data):
        before = selectors.repository_get(organization=self.organization, name=data["name"])
        repo = services.repository_get_or_create(
            organization=self.organization,
            name=data["name"],
            url=data.get("url", ""),
            provider=data.get("provider", ""),
            field_name="name",
        )
        return repo, before is None


def register(router) -> None:
    router.register("releases", ReleaseViewSet, basename="release")
    router.register("commits", CommitViewSet, basename="commit")
    router.register("projects", ProjectViewSet, basename="project")
    router.register("repositories", RepositoryViewSet, basename="repository")
