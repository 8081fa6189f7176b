"""GET /api/v1/compare/: what one release brings over another, by version or by what is live where.

A thin translator: check the query string, call ``deployments.selectors.release_compare_by_name``,
render its ``ReleaseComparison``. Authentication and the read scope come from the API defaults;
a ``DomainError`` from the selector becomes the 400 or 404 naming the parameter.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from deployments.models import Environment
from deployments.selectors import release_compare_by_name
from releases.models import Project, Release
from releases.selectors import COMPARE_COMMIT_LIMIT, COMPARE_RELEASE_LIMIT
from releasetracker.api.schema import errors
from releasetracker.api.serializers import model_max_length

MAX_COMPARE_LIMIT = 1000


class CompareQuerySerializer(serializers.Serializer):
    base = serializers.CharField(required=False, allow_blank=True, max_length=model_max_length(Release, "version"))
    head = serializers.CharField(required=False, allow_blank=True, max_length=model_max_length(Release, "version"))
    base_environment = serializers.CharField(
        required=False, allow_blank=True, max_length=model_max_length(Environment, "name")
    )
    head_environment = serializers.CharField(
        required=False, allow_blank=True, max_length=model_max_length(Environment, "name")
    )
    project = serializers.CharField(required=False, allow_blank=True, max_length=model_max_length(Project, "name"))
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_COMPARE_LIMIT)


class ComparedReleaseSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    version = serializers.CharField()
    created_at = serializers.DateTimeField()


class ComparedCommitSerializer(serializers.Serializer):
    sha = serializers.CharField(source="commit.sha")
    repository = serializers.CharField(source="commit.repository.name", default=None)
    message = serializers.CharField(source="commit.message")
    author_name = serializers.CharField(source="commit.author_name")
    author_email = serializers.CharField(source="commit.author_email")
    timestamp = serializers.DateTimeField(source="commit.timestamp", allow_null=True)
    pr_number = serializers.IntegerField(source="commit.pr_number", allow_null=True)
    releases = serializers.SerializerMethodField(
        help_text="versions of the compared releases that list it, oldest first"
    )

    def get_releases(self, compared) -> list[str]:
        return [release.version for release in compared.releases]


class CompareSerializer(serializers.Serializer):
    base = ComparedReleaseSerializer()
    head = ComparedReleaseSerializer()
    base_environment = serializers.CharField(allow_null=True, help_text="when base was named by environment")
    head_environment = serializers.CharField(allow_null=True, help_text="when head was named by environment")
    projects = serializers.SerializerMethodField(help_text="the projects compared within (empty: every release)")
    status = serializers.ChoiceField(choices=["ahead", "behind", "identical"])
    ahead_by = serializers.IntegerField(help_text="commits head brings over base (all of them)")
    behind_by = serializers.IntegerField(help_text="when head is older than base: commits base brings over head")
    truncated = serializers.BooleanField(help_text="true when commits lists fewer than ahead_by")
    commits = ComparedCommitSerializer(many=True, help_text="newest first, at most limit")
    release_count = serializers.IntegerField(help_text="releases after base up to head")
    releases = ComparedReleaseSerializer(
        many=True,
        help_text=f"releases after base up to head, oldest first; at most the {COMPARE_RELEASE_LIMIT} nearest head",
    )

    def get_projects(self, comparison) -> list[str]:
        return [project.name for project in comparison.projects]


class CompareView(APIView):
    """What ``head`` brings over ``base``: commits with authors, pull requests and releases."""

    @extend_schema(
        operation_id="compare",
        summary="Compare two releases, or what is live in two environments",
        description=(
            "The commits `head` brings over `base`: those of every release of the project after `base` up to "
            "and including `head` (in the order releases were recorded), each once, less those already in "
            "`base` or an earlier release. Name each side by version (`base`, `head`) or by the environment "
            "whose live release it is (`base_environment`, `head_environment`: the release of the latest "
            "successful deployment there). Without `project`, the releases' shared projects are compared "
            "(400 when they share none, or when the environments run several projects). A head older than "
            "its base answers `status` `behind`, `ahead_by` 0 and `behind_by`. Unknown versions, "
            "environments and projects are 404s naming the parameter."
        ),
        parameters=[
            OpenApiParameter("base", OpenApiTypes.STR, description="the version compared from"),
            OpenApiParameter("head", OpenApiTypes.STR, description="the version compared to"),
            OpenApiParameter(
                "base_environment", OpenApiTypes.STR, description="instead of base: the release live there"
            ),
            OpenApiParameter(
                "head_environment", OpenApiTypes.STR, description="instead of head: the release live there"
            ),
            OpenApiParameter("project", OpenApiTypes.STR, description="the project to compare within"),
            OpenApiParameter(
                "limit",
                OpenApiTypes.INT,
                description=f"commits listed (default {COMPARE_COMMIT_LIMIT}, at most {MAX_COMPARE_LIMIT})",
            ),
        ],
        responses={200: CompareSerializer, **errors(400, 401, 403, 404, 429)},
        examples=[
            OpenApiExample(
                "Two releases",
                response_only=True,
                value={
                    "base": {
                        "id": "0b7e5c1e-3f0c-4d2e-9d55-0d4c2b4f8a10",
                        "version": "1.0.0",
                        "created_at": "2024-03-04T09:00:00Z",
                    },
                    "head": {
                        "id": "5a1f0c2b-7a3d-4c58-8a8e-6c1d9f3e2b77",
                        "version": "1.2.0",
                        "created_at": "2024-03-06T09:00:00Z",
                    },
                    "base_environment": None,
                    "head_environment": None,
                    "projects": ["web"],
                    "status": "ahead",
                    "ahead_by": 1,
                    "behind_by": 0,
                    "truncated": False,
                    "commits": [
                        {
                            "sha": "9fceb02d0ae598e95dc970b74767f19372d61af8",
                            "repository": "acme/web",
                            "message": "Fix the login redirect",
                            "author_name": "Alice Martin",
                            "author_email": "alice@example.com",
                            "timestamp": "2024-03-05T16:20:00Z",
                            "pr_number": 42,
                            "releases": ["1.1.0", "1.2.0"],
                        }
                    ],
                    "release_count": 2,
                    "releases": [
                        {
                            "id": "e2a6b1c4-1d2e-4f3a-9b8c-7d6e5f4a3b21",
                            "version": "1.1.0",
                            "created_at": "2024-03-05T09:00:00Z",
                        },
                        {
                            "id": "5a1f0c2b-7a3d-4c58-8a8e-6c1d9f3e2b77",
                            "version": "1.2.0",
                            "created_at": "2024-03-06T09:00:00Z",
                        },
                    ],
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        query = CompareQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        comparison = release_compare_by_name(
            organization=request.auth.organization,
            base=params.get("base", ""),
            head=params.get("head", ""),
            base_environment=params.get("base_environment", ""),
            head_environment=params.get("head_environment", ""),
            project=params.get("project", ""),
            limit=params.get("limit", COMPARE_COMMIT_LIMIT),
        )
        data = CompareSerializer(comparison).data
        data["base_environment"] = params.get("base_environment") or None
        data["head_environment"] = params.get("head_environment") or None
        return Response(data)
