"""Wire format of incidents. Type checks only: rules live in services."""

from rest_framework import serializers

from deployments.models import Environment
from incidents.models import Incident, IncidentStatus
from releases.models import Project
from releasetracker.api.fields import AwareDateTimeField
from releasetracker.api.serializers import RejectUnknownFieldsMixin, model_max_length


class IncidentSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    environment = serializers.CharField(source="environment.name")
    is_production = serializers.BooleanField(source="environment.is_production")
    project = serializers.CharField(source="project.name", default=None, allow_null=True)
    deployment = serializers.UUIDField(source="deployment.public_id", default=None, allow_null=True)
    release = serializers.CharField(
        source="deployment.release.version", default=None, allow_null=True, help_text="the linked deployment's release"
    )
    # A plain string in the schema: "" (no URL) is not a "uri".
    url = serializers.CharField(read_only=True, help_text="an http(s) URL, or empty")

    class Meta:
        model = Incident
        fields = [
            "id",
            "title",
            "severity",
            "status",
            "started_at",
            "resolved_at",
            "environment",
            "is_production",
            "project",
            "deployment",
            "release",
            "commit_sha",
            "url",
            "external_id",
            "source",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class _IncidentFields(RejectUnknownFieldsMixin, serializers.Serializer):
    title = serializers.CharField(max_length=model_max_length(Incident, "title"))
    severity = serializers.CharField(
        max_length=model_max_length(Incident, "severity"), required=False, allow_blank=True, help_text="e.g. SEV1, P2"
    )
    status = serializers.ChoiceField(choices=IncidentStatus.choices, required=False)
    started_at = AwareDateTimeField(required=False, help_text="default: now")
    resolved_at = AwareDateTimeField(required=False, allow_null=True, help_text="not before started_at")
    environment = serializers.CharField(
        max_length=model_max_length(Environment, "name"),
        required=False,
        help_text="an environment name (default: the deployment's, else the production environment)",
    )
    project = serializers.CharField(
        max_length=model_max_length(Project, "name"), required=False, allow_blank=True, allow_null=True
    )
    deployment = serializers.UUIDField(
        required=False, allow_null=True, help_text="the id of a deployment of this organization"
    )
    commit_sha = serializers.CharField(
        max_length=model_max_length(Incident, "commit_sha"), required=False, allow_blank=True
    )
    url = serializers.CharField(
        max_length=model_max_length(Incident, "url"), required=False, allow_blank=True, help_text="an http(s) URL"
    )


class IncidentCreateSerializer(_IncidentFields):
    external_id = serializers.CharField(
        max_length=model_max_length(Incident, "external_id"),
        required=False,
        allow_blank=True,
        help_text="the incident's id in your tool: a repeat with the same id is the same incident",
    )

    def validate(self, attrs):
        if "deployment" in attrs and attrs["deployment"] is not None:
            attrs["deployment"] = str(attrs["deployment"])
        return attrs


class IncidentUpdateSerializer(_IncidentFields):
    title = serializers.CharField(max_length=model_max_length(Incident, "title"), required=False)

    def validate(self, attrs):
        if attrs.get("deployment") is not None:
            attrs["deployment"] = str(attrs["deployment"])
        return attrs
