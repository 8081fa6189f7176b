"""Wire format of environments and deployments. Type checks only: rules live in services."""

from rest_framework import serializers

from deployments.models import Deployment, DeploymentStatus, DeploymentStatusChange, Environment
from deployments.services import MAX_TAGS
from releases.models import Project, Release
from releasetracker.api.fields import AwareDateTimeField, TagsField
from releasetracker.api.serializers import RejectUnknownFieldsMixin, model_max_length


class EnvironmentSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    name = serializers.CharField(max_length=model_max_length(Environment, "name"))
    is_production = serializers.BooleanField(
        required=False, help_text="default: true for 'production' and 'prod', false otherwise"
    )

    class Meta:
        model = Environment
        fields = ["id", "name", "is_production", "created_at"]


class EnvironmentUpdateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=model_max_length(Environment, "name"), required=False)
    is_production = serializers.BooleanField(required=False)


class StatusChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeploymentStatusChange
        fields = ["status", "at"]


class DeploymentSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    environment = serializers.CharField(source="environment.name")
    is_production = serializers.BooleanField(source="environment.is_production")
    release = serializers.CharField(source="release.version", default=None, allow_null=True)
    release_id = serializers.UUIDField(source="release.public_id", default=None, allow_null=True)
    project = serializers.CharField(source="project.name", default=None, allow_null=True)
    status_history = StatusChangeSerializer(source="history", many=True, read_only=True)

    class Meta:
        model = Deployment
        fields = [
            "id",
            "environment",
            "is_production",
            "release",
            "release_id",
            "project",
            "commit_sha",
            "status",
            "started_at",
            "finished_at",
            "deployed_at",
            "occurred_at",
            "duration_seconds",
            "title",
            "changelog",
            "url",
            "branch",
            "is_fix",
            "is_hotfix",
            "is_forced",
            "is_rollback",
            "rollback_detected",
            "tags",
            "triggered_by",
            "external_id",
            "member",
            "pull_request_number",
            "repository_url",
            "commits_count",
            "source",
            "created_by",
            "created_at",
            "updated_at",
            "status_history",
        ]
        read_only_fields = fields


class DeploymentRowSerializer(DeploymentSerializer):
    """A deployment as one CSV row: every field but its status history."""

    class Meta(DeploymentSerializer.Meta):
        fields = [name for name in DeploymentSerializer.Meta.fields if name != "status_history"]
        read_only_fields = fields


class DeploymentCreateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    environment = serializers.CharField(max_length=model_max_length(Environment, "name"))
    trigger_workflow = serializers.BooleanField(
        required=False,
        default=False,
        source="request_workflow",
        help_text="send a deployment.requested webhook (the environment's deployment workflow)",
    )
    release = serializers.CharField(
        max_length=model_max_length(Release, "version"), required=False, allow_blank=True, help_text="a release version"
    )
    commit_sha = serializers.CharField(
        max_length=model_max_length(Deployment, "commit_sha"), required=False, allow_blank=True
    )
    project = serializers.CharField(max_length=model_max_length(Project, "name"), required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=DeploymentStatus.choices, default=DeploymentStatus.SUCCESS)
    started_at = AwareDateTimeField(required=False, allow_null=True)
    finished_at = AwareDateTimeField(
        required=False, allow_null=True, help_text="default: now, for a final status (success, failure, canceled)"
    )
    deployed_at = AwareDateTimeField(required=False, allow_null=True)
    duration_seconds = serializers.FloatField(required=False, allow_null=True, min_value=0)
    title = serializers.CharField(max_length=model_max_length(Deployment, "title"), required=False, allow_blank=True)
    changelog = serializers.CharField(
        max_length=model_max_length(Deployment, "changelog"), required=False, allow_blank=True
    )
    url = serializers.URLField(max_length=model_max_length(Deployment, "url"), required=False, allow_blank=True)
    branch = serializers.CharField(max_length=model_max_length(Deployment, "branch"), required=False, allow_blank=True)
    is_fix = serializers.BooleanField(required=False, default=False)
    is_hotfix = serializers.BooleanField(required=False, default=False)
    is_forced = serializers.BooleanField(required=False, default=False)
    is_rollback = serializers.BooleanField(required=False, default=False)
    tags = TagsField(required=False, max_length=MAX_TAGS)
    triggered_by = serializers.CharField(
        max_length=model_max_length(Deployment, "triggered_by"), required=False, allow_blank=True
    )
    external_id = serializers.CharField(
        max_length=model_max_length(Deployment, "external_id"), required=False, allow_blank=True
    )
    member = serializers.CharField(max_length=model_max_length(Deployment, "member"), required=False, allow_blank=True)
    pull_request_number = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=2_147_483_647
    )
    repository_url = serializers.URLField(
        max_length=model_max_length(Deployment, "repository_url"), required=False, allow_blank=True
    )
    commits_count = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=2_147_483_647)

    def validate(self, attrs):
        if not attrs.get("release") and not attrs.get("commit_sha"):
            raise serializers.ValidationError({"release": ["send a release version or a commit_sha"]})
        return attrs


class DeploymentUpdateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    status = serializers.ChoiceField(choices=DeploymentStatus.choices, required=False)
    at = AwareDateTimeField(required=False, help_text="when the status changed (default: now)")
    title = serializers.CharField(max_length=model_max_length(Deployment, "title"), required=False, allow_blank=True)
    changelog = serializers.CharField(
        max_length=model_max_length(Deployment, "changelog"), required=False, allow_blank=True
    )
    url = serializers.URLField(max_length=model_max_length(Deployment, "url"), required=False, allow_blank=True)
    branch = serializers.CharField(max_length=model_max_length(Deployment, "branch"), required=False, allow_blank=True)
    triggered_by = serializers.CharField(
        max_length=model_max_length(Deployment, "triggered_by"), required=False, allow_blank=True
    )
    member = serializers.CharField(max_length=model_max_length(Deployment, "member"), required=False, allow_blank=True)
    repository_url = serializers.URLField(
        max_length=model_max_length(Deployment, "repository_url"), required=False, allow_blank=True
    )


class LiveQuerySerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """``GET /api/v1/environments/live/``'s query string."""

    project = serializers.CharField(required=False, max_length=model_max_length(Project, "name"))
    environment = serializers.CharField(required=False, max_length=model_max_length(Environment, "name"))
    page = serializers.IntegerField(required=False, min_value=1, default=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)


class LiveEnvironmentSerializer(serializers.Serializer):
    name = serializers.CharField()
    is_production = serializers.BooleanField()


class LiveCellSerializer(serializers.Serializer):
    """One project's live deployment in one environment."""

    project = serializers.CharField(source="project.name", default=None, allow_null=True)
    environment = serializers.CharField(source="environment.name")
    is_production = serializers.BooleanField(source="environment.is_production")
    deployment = serializers.UUIDField(source="deployment.public_id", help_text="the live deployment's id")
    release = serializers.CharField(source="deployment.release.version", default=None, allow_null=True)
    commit_sha = serializers.CharField(source="deployment.commit_sha", help_text="empty when not reported")
    deployed_at = serializers.DateTimeField(source="deployment.occurred_at")
    deployed_by = serializers.SerializerMethodField(help_text="triggered_by, else the token or user that recorded it")
    behind = serializers.IntegerField(
        allow_null=True,
        help_text="the project's releases newer than this one up to the newest live in any environment "
        "(null for a bare sha or no project)",
    )
    stale = serializers.BooleanField(help_text="behind > 0")

    def get_deployed_by(self, cell) -> str:
        return cell.deployment.triggered_by or cell.deployment.created_by


class LivePageSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="matrix rows: projects, plus one for deployments of no project")
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    environments = LiveEnvironmentSerializer(many=True, help_text="the matrix's columns, in order")
    results = LiveCellSerializer(many=True, help_text="the live cells of this page's projects")
