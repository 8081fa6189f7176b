from django.core.validators import RegexValidator
from django_filters import rest_framework as filters

from releases.models import Commit, Release
from releasetracker.api.fields import AwareDateTimeFilter, StrictBooleanFilter


class ReleaseFilter(filters.FilterSet):
    project = filters.CharFilter(field_name="projects__name", help_text="project name")
    environment = filters.CharFilter(method="filter_environment", help_text="deployed to this environment (name)")
    status = filters.ChoiceFilter(choices=Release.Status.choices)
    since = AwareDateTimeFilter(field_name="created_at", lookup_expr="gte", help_text="created at or after")
    until = AwareDateTimeFilter(field_name="created_at", lookup_expr="lt", help_text="created before")
    version = filters.CharFilter(field_name="version")
    archived = StrictBooleanFilter(
        field_name="archived_at", lookup_expr="isnull", exclude=True, help_text="archived (true) or not (false)"
    )
    q = filters.CharFilter(method="filter_q", help_text="search in version and name")

    class Meta:
        model = Release
        fields = ["project", "environment", "status", "since", "until", "version", "archived", "q"]

    def filter_environment(self, queryset, name, value):
        return queryset.filter(deployments__environment__name=value).distinct()

    def filter_q(self, queryset, name, value):
        from django.db.models import Q

        return queryset.filter(Q(version__icontains=value) | Q(name__icontains=value))


class CommitFilter(filters.FilterSet):
    sha = filters.CharFilter(
        method="filter_sha",
        help_text="a full sha or a prefix of at least 7 hex digits",
        # A value that is no sha prefix would match nothing: told, as any unreadable parameter is.
        validators=[
            RegexValidator(r"^\s*[0-9a-fA-F]{7,64}\s*$", "must be a full sha or a prefix of 7 to 64 hex digits")
        ],
    )
    repository = filters.CharFilter(field_name="repository__name")

    class Meta:
        model = Commit
        fields = ["sha", "repository"]

    def filter_sha(self, queryset, name, value):
        return queryset.filter(sha__startswith=value.strip().lower())
