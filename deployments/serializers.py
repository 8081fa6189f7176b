"""Wire format of environments and deployments. Type checks only: rules live in services."""

from django.utils import timezone
from rest_framework import serializers

from deployments.models import Deployment, DeploymentStatus, DeploymentStatusChange, Environment
from releasetracker.api.fields import AwareDateTimeField, TagsField
from releasetracker.api.serializers import PrebuiltFieldsMixin, RejectUnknownFieldsMixin, iso_datetime


class EnvironmentSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    name = serializers.CharField(max_length=100)
    is_production = serializers.BooleanField(
        required=False, help_text="default: true for 'production' and 'prod', false otherwise"
    )

    class Meta:
        model = Environment
        fields = ["id", "name", "is_production", "created_at"]


class EnvironmentUpdateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
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

    def to_representation(self, d: Deployment) -> dict:
        """The fields above, written out: DRF's generic rendering field by field costs more than
        the rest of a deployment write (bench/ingest.py). tests/core/test_api_plumbing.py checks
        that this equals DRF's own rendering of the declared fields."""
        zone = timezone.get_current_timezone()
        environment = d.environment
        release = d.release if d.release_id else None
        return {
            "id": str(d.public_id),
            "environment": environment.name,
            "is_production": environment.is_production,
            "release": release.version if release else None,
            "release_id": str(release.public_id) if release else None,
            "project": d.project.name if d.project_id else None,
            "commit_sha": d.commit_sha,
            "status": d.status,
            "started_at": iso_datetime(d.started_at, zone),
            "finished_at": iso_datetime(d.finished_at, zone),
            "deployed_at": iso_datetime(d.deployed_at, zone),
            "occurred_at": iso_datetime(d.occurred_at, zone),
            "duration_seconds": d.duration_seconds,
            "title": d.title,
            "changelog": d.changelog,
            "url": d.url,
            "branch": d.branch,
            "is_fix": d.is_fix,
            "is_hotfix": d.is_hotfix,
            "is_forced": d.is_forced,
            "is_rollback": d.is_rollback,
            "tags": d.tags,
            "triggered_by": d.triggered_by,
            "external_id": d.external_id,
            "member": d.member,
            "pull_request_number": d.pull_request_number,
            "repository_url": d.repository_url,
            "commits_count": d.commits_count,
            "source": d.source,
            "created_by": d.created_by,
            "created_at": iso_datetime(d.created_at, zone),
            "updated_at": iso_datetime(d.updated_at, zone),
            "status_history": [{"status": change.status, "at": iso_datetime(change.at, zone)} for change in d.history],
        }


class DeploymentCreateSerializer(PrebuiltFieldsMixin, RejectUnknownFieldsMixin, serializers.Serializer):
    environment = serializers.CharField(max_length=100)
    trigger_workflow = serializers.BooleanField(
        required=False,
        default=False,
        source="request_workflow",
        help_text="send a deployment.requested webhook (the environment's deployment workflow)",
    )
    release = serializers.CharField(max_length=200, required=False, allow_blank=True, help_text="a release version")
    commit_sha = serializers.CharField(max_length=64, required=False, allow_blank=True)
    project = serializers.CharField(max_length=200, required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=DeploymentStatus.choices, default=DeploymentStatus.SUCCESS)
    started_at = AwareDateTimeField(required=False, allow_null=True)
    finished_at = AwareDateTimeField(
        required=False, allow_null=True, help_text="default: now, for a final status (success, failure, canceled)"
    )
    deployed_at = AwareDateTimeField(required=False, allow_null=True)
    duration_seconds = serializers.FloatField(required=False, allow_null=True, min_value=0)
    title = serializers.CharField(max_length=500, required=False, allow_blank=True)
    changelog = serializers.CharField(max_length=65_536, required=False, allow_blank=True)
    url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    branch = serializers.CharField(max_length=255, required=False, allow_blank=True)
    is_fix = serializers.BooleanField(required=False, default=False)
    is_hotfix = serializers.BooleanField(required=False, default=False)
    is_forced = serializers.BooleanField(required=False, default=False)
    is_rollback = serializers.BooleanField(required=False, default=False)
    tags = TagsField(required=False)
    triggered_by = serializers.CharField(max_length=200, required=False, allow_blank=True)
    external_id = serializers.CharField(max_length=200, required=False, allow_blank=True)
    member = serializers.CharField(max_length=200, required=False, allow_blank=True)
    pull_request_number = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=2_147_483_647
    )
    repository_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    commits_count = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=2_147_483_647)

    def validate(self, attrs):
        if not attrs.get("release") and not attrs.get("commit_sha"):
            raise serializers.ValidationError({"release": ["send a release version or a commit_sha"]})
        return attrs


class DeploymentUpdateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    status = serializers.ChoiceField(choices=DeploymentStatus.choices, required=False)
    at = AwareDateTimeField(required=False, help_text="when the status changed (default: now)")
    title = serializers.CharField(max_length=500, required=False, allow_blank=True)
    changelog = serializers.CharField(max_length=65_536, required=False, allow_blank=True)
    url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    branch = serializers.CharField(max_length=255, required=False, allow_blank=True)
    triggered_by = serializers.CharField(max_length=200, required=False, allow_blank=True)
    member = serializers.CharField(max_length=200, required=False, allow_blank=True)
    repository_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
