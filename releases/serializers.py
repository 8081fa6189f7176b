"""Wire format of releases, commits, projects and repositories. Type checks only: rules live in services."""

from functools import cached_property

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from deployments.serializers import DeploymentSerializer
from releases.models import Commit, Project, Release, ReleaseRef, Repository
from releases.services import MAX_COMMITS_PER_REQUEST, MAX_PROJECTS, MAX_REFS, CommitInput, RefInput
from releasetracker.api.fields import AwareDateTimeField, CappedListField
from releasetracker.api.serializers import RejectUnknownFieldsMixin, StrictJSONTypesMixin, model_max_length

# The services refuse anything else (releasetracker.validation.clean_sha strips, then matches).
SHA_PATTERN = r"^\s*[0-9a-fA-F]{7,64}\s*$"


@extend_schema_field({"type": "string", "pattern": SHA_PATTERN, "description": "7 to 64 hex digits"})
class ShaField(serializers.CharField):
    """A commit sha: the schema says what the service accepts."""


@extend_schema_field(
    {"type": "string", "nullable": True, "pattern": r"^(\s*[0-9a-fA-F]{7,64}\s*)?$", "description": "empty or a sha"}
)
class OptionalShaField(serializers.CharField):
    """A commit sha, or nothing."""


class CommitObjectSerializer(StrictJSONTypesMixin, serializers.Serializer):
    sha = serializers.CharField(
        max_length=model_max_length(Commit, "sha"), required=False, help_text="7 to 64 hex digits"
    )
    id = serializers.CharField(
        max_length=model_max_length(Commit, "sha"), required=False, help_text="Sentry's name for sha"
    )
    repository = serializers.CharField(
        max_length=model_max_length(Repository, "name"), required=False, allow_blank=True
    )
    message = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=model_max_length(Commit, "message")
    )
    author_name = serializers.CharField(
        max_length=model_max_length(Commit, "author_name"), required=False, allow_blank=True
    )
    author_email = serializers.CharField(
        max_length=model_max_length(Commit, "author_email"), required=False, allow_blank=True
    )
    timestamp = AwareDateTimeField(required=False, allow_null=True)
    pr_number = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=2_147_483_647)

    def validate(self, attrs):
        sha = attrs.pop("sha", None) or attrs.pop("id", None)
        attrs.pop("id", None)
        if not sha:
            raise serializers.ValidationError({"sha": ["this field is required"]})
        attrs["sha"] = sha
        return attrs


class CommitInputField(serializers.Field):
    """A commit as a sha string or as an object with its details."""

    default_error_messages = {"invalid": "must be a sha string or an object with a 'sha'"}

    def to_internal_value(self, data):
        if isinstance(data, str):
            return CommitInput(sha=data)
        if not isinstance(data, dict):
            self.fail("invalid")
        return CommitInput(**self.commit_object.run_validation(data))

    @cached_property
    def commit_object(self) -> CommitObjectSerializer:
        # One serializer validates every commit of a list, as a nested serializer field would.
        return CommitObjectSerializer()

    def to_representation(self, value):
        return value.sha


class CommitInputFieldExtension(OpenApiSerializerFieldExtension):
    """Describe a commit as "a sha string or a CommitObject", registering the object's component."""

    target_class = CommitInputField

    def map_serializer_field(self, auto_schema, direction):
        component = auto_schema.resolve_serializer(CommitObjectSerializer, direction)
        return {
            "oneOf": [
                {
                    "type": "string",
                    "description": "a commit sha (7 to 64 hex digits)",
                    "pattern": SHA_PATTERN,
                },
                component.ref,
            ]
        }


class RefInputSerializer(StrictJSONTypesMixin, serializers.Serializer):
    repository = serializers.CharField(max_length=model_max_length(Repository, "name"))
    commit = ShaField(max_length=model_max_length(ReleaseRef, "commit"))
    previous_commit = OptionalShaField(
        max_length=model_max_length(ReleaseRef, "previous_commit"), required=False, allow_blank=True, allow_null=True
    )

    def to_internal_value(self, data):
        attrs = super().to_internal_value(data)
        return RefInput(
            repository=attrs["repository"], commit=attrs["commit"], previous_commit=attrs.get("previous_commit") or ""
        )


class ReleaseCreateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    version = serializers.CharField(max_length=model_max_length(Release, "version"))
    projects = CappedListField(
        child=serializers.CharField(max_length=model_max_length(Project, "name")),
        required=False,
        max_length=MAX_PROJECTS,
    )
    commits = CappedListField(child=CommitInputField(), required=False, max_length=MAX_COMMITS_PER_REQUEST)
    name = serializers.CharField(max_length=model_max_length(Release, "name"), required=False, allow_blank=True)
    ref = serializers.CharField(max_length=model_max_length(Release, "ref"), required=False, allow_blank=True)
    url = serializers.URLField(max_length=model_max_length(Release, "url"), required=False, allow_blank=True)
    date_released = AwareDateTimeField(required=False, allow_null=True)
    refs = RefInputSerializer(many=True, required=False, max_length=MAX_REFS)
    trigger_build_workflow = serializers.BooleanField(
        required=False,
        default=False,
        source="request_build",
        help_text="send a release.build_requested webhook per project (new releases only)",
    )


class ReleaseUpdateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    status = serializers.ChoiceField(choices=Release.Status.choices, required=False)
    archived = serializers.BooleanField(
        required=False, help_text="true archives the release (Sentry's status 'archived'), false restores it"
    )
    name = serializers.CharField(max_length=model_max_length(Release, "name"), required=False, allow_blank=True)
    url = serializers.URLField(max_length=model_max_length(Release, "url"), required=False, allow_blank=True)
    ref = serializers.CharField(max_length=model_max_length(Release, "ref"), required=False, allow_blank=True)
    date_released = AwareDateTimeField(required=False)
    projects = CappedListField(
        child=serializers.CharField(max_length=model_max_length(Project, "name")),
        required=False,
        max_length=MAX_PROJECTS,
    )


class AddCommitsSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    commits = CappedListField(child=CommitInputField(), max_length=MAX_COMMITS_PER_REQUEST, allow_empty=False)
    refs = RefInputSerializer(many=True, required=False, max_length=MAX_REFS)


class AddCommitsResultSerializer(serializers.Serializer):
    release = serializers.UUIDField()
    added = serializers.IntegerField(help_text="commits sent in this request (after de-duplication)")
    commit_count = serializers.IntegerField(help_text="commits in the release now")


class CommitSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    repository = serializers.CharField(source="repository.name", default=None, allow_null=True, read_only=True)

    class Meta:
        model = Commit
        fields = [
            "id",
            "sha",
            "repository",
            "message",
            "author_name",
            "author_email",
            "timestamp",
            "pr_number",
            "created_at",
        ]


class ReleaseRefSerializer(serializers.Serializer):
    repository = serializers.CharField(source="repository.name")
    commit = serializers.CharField()
    previous_commit = serializers.CharField()


class ReleaseSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    projects = serializers.SerializerMethodField()
    commit_count = serializers.SerializerMethodField()

    class Meta:
        model = Release
        fields = [
            "id",
            "version",
            "name",
            "ref",
            "url",
            "date_released",
            "status",
            "archived_at",
            "source",
            "created_by",
            "projects",
            "commit_count",
            "created_at",
            "updated_at",
        ]

    def get_projects(self, release) -> list[str]:
        return sorted(p.name for p in release.projects_by_name)

    def get_commit_count(self, release) -> int:
        annotated = getattr(release, "commit_count", None)
        return annotated if annotated is not None else release.release_commits.count()


class ReleaseEnvironmentSerializer(serializers.Serializer):
    environment = serializers.CharField()
    is_production = serializers.BooleanField()
    status = serializers.CharField(help_text="status of the latest deployment of this release there")
    deployment_id = serializers.UUIDField()
    occurred_at = serializers.DateTimeField()


class ReleaseDetailSerializer(ReleaseSerializer):
    commits = serializers.SerializerMethodField()
    refs = ReleaseRefSerializer(source="ref_list", many=True, read_only=True)
    environments = serializers.SerializerMethodField()
    deployments = serializers.SerializerMethodField()

    class Meta(ReleaseSerializer.Meta):
        fields = [*ReleaseSerializer.Meta.fields, "commits", "refs", "environments", "deployments"]

    @extend_schema_field(CommitSerializer(many=True))
    def get_commits(self, release):
        return CommitSerializer([link.commit for link in release.commit_links], many=True).data

    @extend_schema_field(ReleaseEnvironmentSerializer(many=True))
    def get_environments(self, release):
        latest = {}
        for deployment in release.deployments_newest_first:
            latest.setdefault(deployment.environment_id, deployment)
        return [
            {
                "environment": d.environment.name,
                "is_production": d.environment.is_production,
                "status": d.status,
                "deployment_id": d.public_id,
                "occurred_at": d.occurred_at,
            }
            for d in latest.values()
        ]

    @extend_schema_field(DeploymentSerializer(many=True))
    def get_deployments(self, release):
        return DeploymentSerializer(release.deployments_newest_first, many=True).data


class ProjectSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    name = serializers.CharField(max_length=model_max_length(Project, "name"))

    class Meta:
        model = Project
        fields = ["id", "name", "created_at"]


class RepositorySerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    name = serializers.RegexField(
        r"^[^/\s]+(/[^/\s]+)+$",
        max_length=model_max_length(Repository, "name"),
        help_text="owner/repo",
        error_messages={"invalid": "must look like owner/repo"},
    )
    url = serializers.URLField(max_length=model_max_length(Repository, "url"), required=False, allow_blank=True)
    provider = serializers.CharField(
        max_length=model_max_length(Repository, "provider"), required=False, allow_blank=True
    )

    class Meta:
        model = Repository
        fields = ["id", "name", "url", "provider", "created_at"]
