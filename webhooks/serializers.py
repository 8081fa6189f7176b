from rest_framework import serializers

from deployments.models import Environment
from releases.models import Project
from releasetracker.api.fields import CappedListField
from releasetracker.api.serializers import RejectUnknownFieldsMixin, model_max_length
from webhooks.models import SUBSCRIBABLE_EVENTS, WebhookDelivery, WebhookEndpoint, WebhookFormat
from webhooks.services import MAX_EVENTS


class WebhookEndpointSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    url = serializers.CharField(
        source="display_url",
        read_only=True,
        help_text="in full for json; for a chat format (its URL is its secret) scheme, host and last 4 characters",
    )
    project = serializers.CharField(source="project.name", default=None, read_only=True, allow_null=True)
    environment = serializers.CharField(source="environment.name", default=None, read_only=True, allow_null=True)
    secret_hint = serializers.SerializerMethodField(help_text="the secret's last 4 characters (null: not signed)")

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "format",
            "events",
            "project",
            "environment",
            "is_active",
            "description",
            "secret_hint",
            "created_at",
            "updated_at",
        ]

    def get_secret_hint(self, endpoint) -> str | None:
        return "…" + endpoint.secret[-4:] if endpoint.secret else None


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    url = serializers.CharField(read_only=True, help_text="in full, for every format, only in this response")
    secret = serializers.SerializerMethodField(help_text="shown in full only in this response; null: not signed")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]

    def get_secret(self, endpoint) -> str | None:
        return endpoint.secret or None


class WebhookEndpointWriteSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    url = serializers.URLField(max_length=model_max_length(WebhookEndpoint, "url"))
    format = serializers.ChoiceField(
        choices=WebhookFormat.choices,
        default=WebhookFormat.JSON,
        help_text="json: our signed payload; slack, teams, discord: that service's message. Fixed once created.",
    )
    events = CappedListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENTS), allow_empty=False, max_length=MAX_EVENTS
    )
    secret = serializers.CharField(
        max_length=model_max_length(WebhookEndpoint, "secret"),
        required=False,
        allow_blank=True,
        help_text="json only; default: generated",
    )
    project = serializers.CharField(
        max_length=model_max_length(Project, "name"), required=False, allow_null=True, allow_blank=True
    )
    environment = serializers.CharField(
        max_length=model_max_length(Environment, "name"), required=False, allow_null=True, allow_blank=True
    )
    is_active = serializers.BooleanField(required=False, default=True)
    description = serializers.CharField(
        max_length=model_max_length(WebhookEndpoint, "description"), required=False, allow_blank=True
    )


class WebhookEndpointUpdateSerializer(WebhookEndpointWriteSerializer):
    url = serializers.URLField(max_length=model_max_length(WebhookEndpoint, "url"), required=False)
    format = serializers.ChoiceField(
        choices=WebhookFormat.choices, required=False, help_text="accepted only when unchanged"
    )
    events = CappedListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENTS),
        allow_empty=False,
        required=False,
        max_length=MAX_EVENTS,
    )
    is_active = serializers.BooleanField(required=False)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "state",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_response",
            "delivered_at",
            "payload",
            "created_at",
        ]
