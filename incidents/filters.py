from django_filters import rest_framework as filters

from incidents.models import Incident, IncidentStatus
from releasetracker.api.fields import AwareDateTimeFilter


class IncidentFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=IncidentStatus.choices)
    environment = filters.CharFilter(field_name="environment__name", help_text="environment name")
    project = filters.CharFilter(field_name="project__name", help_text="project name")
    since = AwareDateTimeFilter(field_name="started_at", lookup_expr="gte", help_text="started at or after")
    until = AwareDateTimeFilter(field_name="started_at", lookup_expr="lt", help_text="started before")

    class Meta:
        model = Incident
        fields = ["status", "environment", "project", "since", "until"]
