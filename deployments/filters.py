from django_filters import rest_framework as filters

from deployments.models import Deployment, DeploymentStatus
from releasetracker.api.fields import AwareDateTimeFilter, StrictBooleanFilter


class DeploymentFilter(filters.FilterSet):
    environment = filters.CharFilter(field_name="environment__name")
    project = filters.CharFilter(field_name="project__name")
    status = filters.ChoiceFilter(choices=DeploymentStatus.choices)
    release = filters.CharFilter(field_name="release__version", help_text="a release version")
    since = AwareDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    until = AwareDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    is_hotfix = StrictBooleanFilter()
    is_production = StrictBooleanFilter(field_name="environment__is_production")

    class Meta:
        model = Deployment
        fields = ["environment", "project", "status", "release", "since", "until", "is_hotfix", "is_production"]
