"""Admin for ops staff: projects, repositories, commits and releases.

Writes go through ``releases.services`` like every other entry point: a release added here is
created by ``release_create`` (source "admin"), and a change is applied by ``release_update``.
Commits and the link rows are data sent by CI; they are shown read-only.
"""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from deployments.models import Deployment
from releases.models import Commit, Project, Release, ReleaseCommit, ReleaseProject, ReleaseRef, Repository, Source
from releases.services import project_get_or_create, release_create, release_update, repository_get_or_create
from releasetracker.admin import HTTPS_URL_FIELDS, ReadOnlyAdminMixin
from releasetracker.errors import DomainError

AUDIT_FIELDS = ("public_id", "created_at", "updated_at")


def adopt(obj, saved) -> None:
    """Make the admin's unsaved form object the row a service saved (for the log entry and the redirect)."""
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db
    obj._state.fields_cache = {}


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    formfield_overrides = HTTPS_URL_FIELDS
    extra = 0
    can_delete = False
    show_change_link = True


class ReleaseCommitInline(ReadOnlyInline):
    model = ReleaseCommit
    fields = ["position", "sha", "message", "author", "timestamp"]
    readonly_fields = fields
    verbose_name = "commit"
    verbose_name_plural = "commits"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("commit")

    @admin.display(description="sha")
    def sha(self, link: ReleaseCommit) -> str:
        return link.commit.sha[:12]

    @admin.display(description="message")
    def message(self, link: ReleaseCommit) -> str:
        return (link.commit.message or "").splitlines()[0][:120] if link.commit.message else ""

    @admin.display(description="author")
    def author(self, link: ReleaseCommit) -> str:
        return link.commit.author_name

    @admin.display(description="timestamp")
    def timestamp(self, link: ReleaseCommit):
        return link.commit.timestamp


class ReleaseDeploymentInline(ReadOnlyInline):
    model = Deployment
    fields = ["environment", "project", "status", "occurred_at", "is_rollback", "is_hotfix", "source"]
    readonly_fields = fields
    ordering = ["-occurred_at", "-id"]

    def get_queryset(self, request):
        # "release" too: each row's title is str(deployment), which names the release.
        return super().get_queryset(request).select_related("environment", "project", "release")


class ReleaseRefInline(ReadOnlyInline):
    model = ReleaseRef
    fields = ["repository", "commit", "previous_commit"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("repository")


class ReleaseAdminForm(forms.ModelForm):
    url = forms.URLField(max_length=500, required=False, assume_scheme="https")
    projects_text = forms.CharField(
        required=False,
        label="Projects",
        help_text="Comma-separated project names; new names create projects. Projects are only added, never removed.",
    )

    class Meta:
        model = Release
        fields = ["organization", "version", "name", "ref", "url", "date_released", "status"]


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    formfield_overrides = HTTPS_URL_FIELDS
    form = ReleaseAdminForm
    list_display = ["version", "organization", "status", "project_names", "commit_count", "source", "created_at"]
    list_filter = ["status", "source", "organization"]
    search_fields = ["version", "name", "organization__slug", "projects__name"]
    list_select_related = ["organization"]
    date_hierarchy = "created_at"
    readonly_fields = [*AUDIT_FIELDS, "source", "created_by", "archived_at"]
    inlines = [ReleaseRefInline, ReleaseCommitInline, ReleaseDeploymentInline]
    actions = ["archive", "restore"]
    show_full_result_count = False

    def get_queryset(self, request):
        # Commit counts and project names in the list cost two queries per page, not two per row.
        return (
            super()
            .get_queryset(request)
            .annotate(commit_total=Count("release_commits", distinct=True))
            .prefetch_related("projects")
        )

    def get_fields(self, request, obj=None):
        fields = ["organization", "version", "name", "status", "ref", "url", "date_released", "projects_text"]
        return fields if obj is None else [*fields, "archived_at", "source", "created_by", *AUDIT_FIELDS]

    def get_readonly_fields(self, request, obj=None):
        # The version and organization identify a release everywhere (API, vendors): fixed once created.
        return self.readonly_fields if obj is None else [*self.readonly_fields, "organization", "version"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is not None:
            form.base_fields["projects_text"].initial = ", ".join(p.name for p in obj.projects.all())
        return form

    @admin.action(description="Archive the selected releases (hidden from Sentry's lists; metrics unchanged)")
    def archive(self, request, queryset):
        self._set_archived(request, queryset, archived=True)

    @admin.action(description="Restore the selected archived releases")
    def restore(self, request, queryset):
        self._set_archived(request, queryset, archived=False)

    def _set_archived(self, request, queryset, *, archived: bool) -> None:
        for release in queryset.select_related("organization"):
            release_update(organization=release.organization, release=release, archived=archived)
        self.message_user(request, f"{'Archived' if archived else 'Restored'} {queryset.count()} release(s).")

    @admin.display(description="projects")
    def project_names(self, release: Release) -> str:
        return ", ".join(project.name for project in release.projects.all())

    @admin.display(description="commits", ordering="commit_total")
    def commit_count(self, release: Release) -> int:
        return release.commit_total

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        projects = [name.strip() for name in (data.get("projects_text") or "").split(",") if name.strip()]
        try:
            if change:
                saved = release_update(
                    organization=obj.organization,
                    release=obj,
                    status=data["status"],
                    date_released=data.get("date_released"),
                    projects=projects,
                    name=data.get("name", ""),
                    url=data.get("url", ""),
                    ref=data.get("ref", ""),
                )
            else:
                saved, _ = release_create(
                    organization=data["organization"],
                    version=data["version"],
                    projects=projects,
                    name=data.get("name", ""),
                    ref=data.get("ref", ""),
                    url=data.get("url", ""),
                    date_released=data.get("date_released"),
                    status=data["status"],
                    source=Source.ADMIN,
                    created_by=f"admin {request.user.get_username()}",
                )
        except DomainError as error:
            # The form was valid but the service refused it: say why instead of failing with a 500.
            self.message_user(request, f"Not saved: {error}", messages.ERROR)
            raise _Refused(error) from error
        adopt(obj, saved)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _Refused:
            return self._refused_redirect(request, object_id)

    def _refused_redirect(self, request, object_id):
        from django.http import HttpResponseRedirect

        if object_id:
            return HttpResponseRedirect(reverse("admin:releases_release_change", args=[object_id]))
        return HttpResponseRedirect(reverse("admin:releases_release_add"))


class _Refused(Exception):
    """A service refused an admin save; the transaction is rolled back and the user told why."""


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "created_at"]
    list_filter = ["organization"]
    search_fields = ["name", "organization__slug"]
    list_select_related = ["organization"]
    readonly_fields = AUDIT_FIELDS

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is None else [*self.readonly_fields, "organization"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        saved = project_get_or_create(organization=obj.organization, name=obj.name)
        adopt(obj, saved)


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    formfield_overrides = HTTPS_URL_FIELDS
    list_display = ["name", "organization", "url", "provider", "created_at"]
    list_filter = ["provider", "organization"]
    search_fields = ["name", "url", "organization__slug"]
    list_select_related = ["organization"]
    readonly_fields = AUDIT_FIELDS

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is None else [*self.readonly_fields, "organization"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        saved = repository_get_or_create(
            organization=obj.organization, name=obj.name, url=obj.url, provider=obj.provider
        )
        adopt(obj, saved)


@admin.register(Commit)
class CommitAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Commits arrive from CI; ops staff look them up here but do not edit them."""

    list_display = ["short", "organization", "repository", "first_line", "author_name", "timestamp", "pr_number"]
    list_filter = ["organization"]
    search_fields = ["sha", "message", "author_name", "author_email"]
    list_select_related = ["organization", "repository"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="sha", ordering="sha")
    def short(self, commit: Commit) -> str:
        return commit.sha[:12]

    @admin.display(description="message")
    def first_line(self, commit: Commit) -> str:
        return commit.message.splitlines()[0][:100] if commit.message else ""


class _LinkRowAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Link rows between a release and its projects or commits: visible for support, edited through the release."""

    @admin.display(description="release", ordering="release__version")
    def release_link(self, row) -> str:
        url = reverse("admin:releases_release_change", args=[row.release_id])
        return format_html('<a href="{}">{}</a>', url, row.release.version)


@admin.register(ReleaseProject)
class ReleaseProjectAdmin(_LinkRowAdmin):
    list_display = ["release_link", "project", "organization", "created_at"]
    list_filter = ["organization"]
    search_fields = ["release__version", "project__name"]
    list_select_related = ["release", "project", "organization"]


@admin.register(ReleaseCommit)
class ReleaseCommitAdmin(_LinkRowAdmin):
    list_display = ["release_link", "commit", "position", "organization"]
    list_filter = ["organization"]
    search_fields = ["release__version", "commit__sha"]
    list_select_related = ["release", "commit", "organization"]
    show_full_result_count = False


@admin.register(ReleaseRef)
class ReleaseRefAdmin(_LinkRowAdmin):
    list_display = ["release_link", "repository", "commit", "previous_commit", "organization"]
    list_filter = ["organization"]
    search_fields = ["release__version", "repository__name", "commit"]
    list_select_related = ["release", "repository", "organization"]
