from django import forms
from django.contrib import admin, messages

from releasetracker.errors import DomainError
from webhooks.models import SUBSCRIBABLE_EVENTS, WebhookDelivery, WebhookEndpoint, WebhookFormat
from webhooks.services import check_target, clean_events, delivery_redeliver, endpoint_create, endpoint_update


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(choices=SUBSCRIBABLE_EVENTS, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = [
            "organization",
            "format",
            "url",
            "secret",
            "events",
            "project",
            "environment",
            "is_active",
            "description",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            return
        # Queued deliveries hold bodies of this format (endpoint_update refuses a change).
        self.fields["format"].disabled = True
        if self.instance.is_chat:
            # A chat URL is the channel's credential: never put it back in the page.
            self.initial["url"] = ""
            self.fields["url"].required = False
            self.fields["url"].help_text = f"Now {self.instance.display_url}. Leave empty to keep it."

    def clean_url(self):
        url = self.cleaned_data["url"]
        if not url and self.instance.pk is not None and self.instance.is_chat:
            return self.instance.url
        try:
            check_target(url)
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from None
        return url

    def clean(self):
        data = super().clean()
        org = data.get("organization")
        for name in ("project", "environment"):
            row = data.get(name)
            if org and row and row.organization_id != org.pk:
                self.add_error(name, f"this {name} belongs to another organization")
        if "events" in data:
            try:
                data["events"] = clean_events(data["events"], format=data.get("format") or WebhookFormat.JSON)
            except DomainError as exc:
                self.add_error("events", exc.message)
        return data


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = [
        "target",
        "format",
        "organization",
        "events",
        "project",
        "environment",
        "is_active",
        "created_at",
    ]
    list_filter = ["is_active", "format", "organization"]
    search_fields = ["url", "description", "organization__slug"]
    list_select_related = ["organization", "project", "environment"]
    readonly_fields = ["public_id", "created_at", "updated_at"]
    raw_id_fields = ["project", "environment"]

    @admin.display(description="URL", ordering="url")
    def target(self, obj: WebhookEndpoint) -> str:
        return obj.display_url

    def save_model(self, request, obj, form, change):
        # The same service as the API, so the URL checks (no private targets) apply here too.
        fields = {
            "url": obj.url,
            "events": obj.events,
            # Chat formats are not signed: a secret left in the form is not theirs to keep.
            "secret": "" if obj.is_chat else obj.secret,
            "project": obj.project.name if obj.project_id else None,
            "environment": obj.environment.name if obj.environment_id else None,
            "is_active": obj.is_active,
            "description": obj.description,
        }
        if change:
            endpoint_update(organization=obj.organization, endpoint=obj, **fields)
        else:
            created = endpoint_create(organization=obj.organization, format=obj.format, **fields)
            obj.pk = created.pk
            obj.public_id = created.public_id
            obj.secret = created.secret
            obj._state.adding = False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["event", "endpoint", "state", "attempts", "last_status_code", "next_attempt_at", "created_at"]
    list_filter = ["state", "event", "organization"]
    search_fields = ["endpoint__url", "public_id"]
    list_select_related = ["endpoint", "organization"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "public_id",
        "organization",
        "endpoint",
        "event",
        "payload",
        "state",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_status_code",
        "last_response",
        "delivered_at",
        "created_at",
    ]
    actions = ["redeliver"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Redeliver selected deliveries")
    def redeliver(self, request, queryset):
        count = 0
        for delivery in queryset.select_related("organization"):
            delivery_redeliver(organization=delivery.organization, delivery=delivery)
            count += 1
        self.message_user(request, f"Queued {count} delivery(ies) again.", messages.SUCCESS)
