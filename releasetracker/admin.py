from django import forms
from django.contrib import admin, messages
from django.contrib.admin import widgets
from django.db import models
from django.template.response import TemplateResponse

from releasetracker.models import ApiToken, GitHubDelivery, Membership, Organization
from releasetracker.pages import ThrottledAdminAuthenticationForm
from releasetracker.services import token_issue, token_regenerate, token_revoke

# The admin's sign-in page counts failures with the pages' sign-in: one throttle for both doors.
admin.site.login_form = ThrottledAdminAuthenticationForm

# Admin forms for models with URL fields: a URL typed without a scheme means https (Django 6's
# default, asked for now rather than relying on the deprecated http default).
HTTPS_URL_FIELDS = {models.URLField: {"widget": widgets.AdminURLFieldWidget, "assume_scheme": "https"}}


class ReadOnlyAdminMixin:
    """Rows that only the services write (a history, a delivery log, the links a release edits):
    readable here for support, never added or edited. For model admins and inlines alike."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyNoDeleteAdminMixin(ReadOnlyAdminMixin):
    """Rows not deleted by hand either: an audit trail (a deployment's status history), or rows the
    services derive from others and keep exact (deleting what they come from recomputes them)."""

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    readonly_fields = ["public_id", "created_at", "updated_at"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "user__email", "organization__slug"]
    list_select_related = ["user", "organization"]
    autocomplete_fields = ["user", "organization"]


class ApiTokenAddForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiToken.Scope.choices, widget=forms.CheckboxSelectMultiple, initial=[ApiToken.Scope.WRITE]
    )

    class Meta:
        model = ApiToken
        fields = ["organization", "name", "scopes", "expires_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "organization",
        "prefix",
        "scopes",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["organization", "revoked_at"]
    search_fields = ["name", "prefix", "organization__slug"]
    list_select_related = ["organization", "created_by"]
    readonly_fields = ["prefix", "scopes", "created_at", "last_used_at", "revoked_at", "created_by", "public_id"]
    date_hierarchy = "created_at"
    actions = ["revoke_tokens", "regenerate_tokens"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organization", "name", "scopes", "expires_at"]
        return [
            "organization",
            "name",
            "prefix",
            "scopes",
            "expires_at",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
            "public_id",
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [*self.readonly_fields, "organization"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        issued = token_issue(
            organization=form.cleaned_data["organization"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_at=form.cleaned_data.get("expires_at"),
            created_by=request.user,
        )
        obj.pk = issued.token.pk
        obj._state.adding = False
        # Kept on the request, not on this admin (shared by every thread).
        request._issued_token = issued

    def response_add(self, request, obj, post_url_continue=None):
        issued = getattr(request, "_issued_token", None)
        if issued is None:
            return super().response_add(request, obj, post_url_continue)
        return self._show_once(request, [issued])

    def _show_once(self, request, issued_tokens):
        # Rendered straight into the response: the clear value is never put in a message,
        # session or cookie, so it cannot be shown a second time.
        context = {
            **self.admin_site.each_context(request),
            "issued": issued_tokens,
            "opts": self.model._meta,
            "title": "Copy your new token now",
        }
        return TemplateResponse(request, "admin/releasetracker/token_created.html", context)

    @admin.action(description="Revoke selected tokens")
    def revoke_tokens(self, request, queryset):
        for token in queryset.select_related("organization"):
            token_revoke(organization=token.organization, token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)

    @admin.action(description="Regenerate selected tokens (revokes them and shows the new values once)")
    def regenerate_tokens(self, request, queryset):
        issued = [
            token_regenerate(organization=token.organization, token=token)
            for token in queryset.select_related("organization", "created_by")
        ]
        return self._show_once(request, issued)


@admin.register(GitHubDelivery)
class GitHubDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only log of processed GitHub webhook deliveries (the secret is on the organization)."""

    list_display = ["delivery_id", "event", "action", "organization", "received_at"]
    list_filter = ["event", "organization"]
    search_fields = ["delivery_id", "organization__slug"]
    list_select_related = ["organization"]
    date_hierarchy = "received_at"
