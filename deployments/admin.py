"""Admin for ops staff: environments, deployments and their status history.

Every write calls ``deployments.services``: a status changed here is recorded in the history
with its time (``deployment_update``), exactly as when CI reports it, so the metrics see it.
"""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from deployments.models import Deployment, DeploymentStatus, DeploymentStatusChange, Environment, FirstDeployment
from deployments.services import (
    deployment_change_status,
    deployment_record,
    deployment_update,
    environment_get_or_create,
    environment_update,
)
from releases.admin import adopt
from releases.models import Source
from releasetracker.admin import HTTPS_URL_FIELDS, ReadOnlyAdminMixin, ReadOnlyNoDeleteAdminMixin
from releasetracker.errors import DomainError

AUDIT_FIELDS = ("public_id", "created_at", "updated_at")


class _Refused(Exception):
    """A service refused an admin save; the transaction is rolled back and the user told why."""


class RefusalMixin:
    """Turn a ``DomainError`` from a service into an error message on the form page, not a 500."""

    def _refuse(self, request, error: DomainError):
        self.message_user(request, f"Not saved: {error}", messages.ERROR)
        raise _Refused from error

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _Refused:
            opts = self.model._meta
            name = "change" if object_id else "add"
            args = [object_id] if object_id else []
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_{name}", args=args))


@admin.register(Environment)
class EnvironmentAdmin(RefusalMixin, admin.ModelAdmin):
    list_display = ["name", "organization", "is_production", "created_at"]
    list_filter = ["is_production", "organization"]
    search_fields = ["name", "organization__slug"]
    list_select_related = ["organization"]
    readonly_fields = AUDIT_FIELDS
    fields = ["organization", "name", "is_production", *AUDIT_FIELDS]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is None else [*self.readonly_fields, "organization"]

    def save_model(self, request, obj, form, change):
        try:
            if change:
                saved = environment_update(
                    organization=obj.organization,
                    environment=Environment.objects.get(pk=obj.pk),
                    name=form.cleaned_data["name"],
                    is_production=form.cleaned_data["is_production"],
                )
            else:
                saved = environment_get_or_create(organization=obj.organization, name=obj.name)
                saved = environment_update(
                    organization=obj.organization, environment=saved, is_production=obj.is_production
                )
        except DomainError as error:
            self._refuse(request, error)
        adopt(obj, saved)


class StatusChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DeploymentStatusChange
    fields = ["status", "at", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["at", "id"]


class DeploymentAddForm(forms.ModelForm):
    """What an ops person types to record a deployment by hand: a release version or a sha."""

    environment_name = forms.CharField(max_length=100, label="Environment")
    release_version = forms.CharField(max_length=200, required=False, label="Release version")
    project_name = forms.CharField(max_length=200, required=False, label="Project")
    url = forms.URLField(max_length=500, required=False, assume_scheme="https")

    class Meta:
        model = Deployment
        fields = [
            "organization",
            "commit_sha",
            "status",
            "started_at",
            "finished_at",
            "title",
            "url",
            "is_fix",
            "is_hotfix",
            "is_rollback",
        ]


@admin.register(Deployment)
class DeploymentAdmin(RefusalMixin, admin.ModelAdmin):
    formfield_overrides = HTTPS_URL_FIELDS
    list_display = [
        "target",
        "environment",
        "project",
        "status",
        "occurred_at",
        "is_rollback",
        "is_hotfix",
        "is_fix",
        "source",
        "organization",
    ]
    list_filter = [
        "status",
        "environment__is_production",
        "is_rollback",
        "is_hotfix",
        "is_fix",
        "source",
        "organization",
    ]
    search_fields = ["release__version", "commit_sha", "title", "external_id", "environment__name", "project__name"]
    list_select_related = ["environment", "release", "project", "organization"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    inlines = [StatusChangeInline]
    actions = ["mark_failed"]
    # Set by the services (times, history, rollback detection) or by the client that reported it.
    readonly_fields = [
        "organization",
        "environment",
        "release_link",
        "project",
        "commit_sha",
        "occurred_at",
        "started_at",
        "finished_at",
        "deployed_at",
        "duration_seconds",
        "is_rollback",
        "tags",
        "external_id",
        "source",
        "created_by",
        *AUDIT_FIELDS,
    ]
    # What ops staff may correct: the status (kept in the history) and the descriptive text.
    editable = ["status", "title", "changelog", "url", "branch", "triggered_by", "member", "repository_url"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("environment", "release", "project", "organization")

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = DeploymentAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return [
                "organization",
                "environment_name",
                "release_version",
                "commit_sha",
                "project_name",
                "status",
                "started_at",
                "finished_at",
                "title",
                "url",
                "is_fix",
                "is_hotfix",
                "is_rollback",
            ]
        return [*self.editable, *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    @admin.display(description="what", ordering="release__version")
    def target(self, deployment: Deployment) -> str:
        return deployment.release.version if deployment.release_id else deployment.commit_sha[:12]

    @admin.display(description="release")
    def release_link(self, deployment: Deployment) -> str:
        if not deployment.release_id:
            return "—"
        url = reverse("admin:releases_release_change", args=[deployment.release_id])
        return format_html('<a href="{}">{}</a>', url, deployment.release.version)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if change:
                text = {name: data[name] for name in self.editable if name != "status" and name in form.changed_data}
                saved = deployment_update(
                    organization=obj.organization,
                    deployment=obj,
                    status=data["status"] if "status" in form.changed_data else None,
                    **text,
                )
            else:
                saved, _ = deployment_record(
                    organization=data["organization"],
                    environment=data["environment_name"],
                    release=data.get("release_version") or None,
                    commit_sha=data.get("commit_sha") or "",
                    project=data.get("project_name") or None,
                    status=data["status"],
                    started_at=data.get("started_at"),
                    finished_at=data.get("finished_at"),
                    is_fix=data.get("is_fix", False),
                    is_hotfix=data.get("is_hotfix", False),
                    is_rollback=data.get("is_rollback", False),
                    source=Source.ADMIN,
                    created_by=f"admin {request.user.get_username()}",
                    title=data.get("title", ""),
                    url=data.get("url", ""),
                )
        except DomainError as error:
            self._refuse(request, error)
        adopt(obj, saved)

    @admin.action(description="Mark selected deployments failed (recorded in their status history)")
    def mark_failed(self, request, queryset):
        changed = 0
        for deployment in queryset.select_related("organization"):
            if deployment.status == DeploymentStatus.FAILURE:
                continue
            deployment_change_status(
                organization=deployment.organization, deployment=deployment, status=DeploymentStatus.FAILURE
            )
            changed += 1
        self.message_user(request, f"Marked {changed} deployment(s) failed.", messages.SUCCESS)


@admin.register(DeploymentStatusChange)
class DeploymentStatusChangeAdmin(ReadOnlyNoDeleteAdminMixin, admin.ModelAdmin):
    """The status history is an audit trail: readable here, written only by the services."""

    list_display = ["deployment", "status", "at", "organization"]
    list_filter = ["status", "organization"]
    search_fields = ["deployment__release__version", "deployment__commit_sha"]
    list_select_related = ["deployment__environment", "deployment__release", "organization"]
    date_hierarchy = "at"
    show_full_result_count = False


@admin.register(FirstDeployment)
class FirstDeploymentAdmin(ReadOnlyNoDeleteAdminMixin, admin.ModelAdmin):
    """Each commit's first successful deployment per lead-time scope: derived from the deployments
    by the services (lead time reads it), readable here for support, never edited."""

    list_display = ["commit", "environment_key", "project_key", "deployment", "occurred_at", "organization"]
    list_filter = ["organization"]
    search_fields = ["commit__sha"]
    list_select_related = ["commit", "deployment__environment", "deployment__release", "organization"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False
