"""Admin for ops staff: incidents, each organization's incident settings and the hook events handled.

Every write calls ``incidents.services``, so an incident typed here obeys the same rules (status
and ``resolved_at`` consistent, same-organization links, http(s) URLs) as one from the API.
"""

from django import forms
from django.contrib import admin
from django.utils import timezone

from deployments.admin import AUDIT_FIELDS, RefusalMixin
from incidents.models import Incident, IncidentEvent, IncidentSettings, IncidentSource
from incidents.selectors import SECRET_FIELDS
from incidents.services import incident_create, incident_settings_update, incident_update
from releases.admin import adopt
from releasetracker.admin import HTTPS_URL_FIELDS, ReadOnlyAdminMixin
from releasetracker.errors import DomainError


class IncidentForm(forms.ModelForm):
    """Resolved without a time means resolved now, as in the API; a time before the start is named."""

    def clean(self):
        data = super().clean()
        started_at = data.get("started_at") or getattr(self.instance, "started_at", None) or timezone.now()
        if data.get("status") == "resolved" and not data.get("resolved_at"):
            data["resolved_at"] = max(timezone.now(), started_at)
        elif data.get("status") == "open":
            data["resolved_at"] = None
        if data.get("resolved_at") and data["resolved_at"] < started_at:
            self.add_error("resolved_at", "must not be before started_at")
        return data


class IncidentAddForm(IncidentForm):
    """What an ops person types to record an incident by hand."""

    environment_name = forms.CharField(
        max_length=100, required=False, label="Environment", help_text="default: the production environment"
    )
    project_name = forms.CharField(max_length=200, required=False, label="Project")
    deployment_id = forms.UUIDField(required=False, label="Deployment id", help_text="as the API shows it")
    url = forms.URLField(max_length=500, required=False, assume_scheme="https")

    class Meta:
        model = Incident
        fields = ["organization", "title", "severity", "status", "started_at", "resolved_at", "commit_sha", "url"]


@admin.register(Incident)
class IncidentAdmin(RefusalMixin, admin.ModelAdmin):
    formfield_overrides = HTTPS_URL_FIELDS
    list_display = ["title", "status", "severity", "environment", "started_at", "resolved_at", "source", "organization"]
    list_filter = ["status", "severity", "environment__name", "source", "organization"]
    search_fields = ["title", "external_id"]
    list_select_related = ["environment", "organization"]
    date_hierarchy = "started_at"
    show_full_result_count = False
    readonly_fields = [
        "organization",
        "environment",
        "project",
        "deployment",
        "external_id",
        "source",
        "created_by",
        *AUDIT_FIELDS,
    ]
    # What ops staff may correct; resolving here is the API's resolve.
    editable = ["title", "severity", "status", "started_at", "resolved_at", "commit_sha", "url"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("environment", "project", "deployment", "organization")

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = IncidentAddForm if obj is None else IncidentForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return [
                "organization",
                "title",
                "severity",
                "status",
                "started_at",
                "resolved_at",
                "environment_name",
                "project_name",
                "deployment_id",
                "commit_sha",
                "url",
            ]
        return [*self.editable, *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if change:
                changes = {name: data[name] for name in self.editable if name in form.changed_data}
                if "status" in changes and "resolved_at" not in changes and changes["status"] == "resolved":
                    changes["resolved_at"] = None  # resolved now, as the API does
                saved = incident_update(
                    organization=obj.organization, incident=Incident.objects.get(pk=obj.pk), **changes
                )
            else:
                deployment = data.get("deployment_id")
                saved, _ = incident_create(
                    organization=data["organization"],
                    title=data["title"],
                    severity=data.get("severity", ""),
                    status=data.get("status") or None,
                    started_at=data.get("started_at"),
                    resolved_at=data.get("resolved_at"),
                    environment=data.get("environment_name") or None,
                    project=data.get("project_name") or None,
                    deployment=str(deployment) if deployment else None,
                    commit_sha=data.get("commit_sha") or "",
                    url=data.get("url") or "",
                    source=IncidentSource.ADMIN,
                    created_by=f"admin {request.user.get_username()}",
                )
        except DomainError as error:
            self._refuse(request, error)
        adopt(obj, saved)


@admin.register(IncidentSettings)
class IncidentSettingsAdmin(RefusalMixin, admin.ModelAdmin):
    list_display = ["organization", "attribution_window", "updated_at"]
    search_fields = ["organization__slug"]
    list_select_related = ["organization"]
    fields = ["organization", "attribution_window", *SECRET_FIELDS.values(), "created_at", "updated_at"]
    readonly_fields = ["created_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is None else [*self.readonly_fields, "organization"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # Secrets are shown once, where they are made: the form never renders the stored value.
        if db_field.name in SECRET_FIELDS.values():
            kwargs["widget"] = forms.PasswordInput(render_value=False)
            kwargs["help_text"] = f"{db_field.help_text}; left empty, the current secret stays"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            saved = incident_settings_update(
                organization=obj.organization,
                attribution_window=data["attribution_window"],
                **{name: data[name] for name in SECRET_FIELDS.values() if data.get(name)},
            )
        except DomainError as error:
            self._refuse(request, error)
        adopt(obj, saved)


@admin.register(IncidentEvent)
class IncidentEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The hook events handled: readable here, written only by the hooks."""

    list_display = ["event_id", "event_type", "source", "organization", "created_at"]
    list_filter = ["source", "organization"]
    search_fields = ["event_id"]
    list_select_related = ["organization"]
    show_full_result_count = False
