"""GET /api/v1/metrics/dora/: the DORA metrics of the token's organization.

A thin translator: parse and check the query string, call ``metrics.selectors.dora_metrics``,
answer its dict. Authentication and the read scope come from the API defaults
(``ApiTokenAuthentication``, ``HasTokenScope``); errors take the native shape through the one
exception handler (a ``DomainError`` from the selector becomes a 400 naming the parameter).
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from metrics.exports import SERIES_HEADER, dora_series_rows
from metrics.selectors import BUCKETS, MAX_WINDOW, dora_metrics
from releasetracker.api.csv import CSVRenderer, FormatParameterMixin
from releasetracker.api.fields import AwareDateTimeField
from releasetracker.api.schema import errors
from releasetracker.exports import csv_response


class DoraQuerySerializer(serializers.Serializer):
    since = AwareDateTimeField(required=False)
    until = AwareDateTimeField(required=False)
    project = serializers.CharField(required=False, allow_blank=True, max_length=200)
    environment = serializers.CharField(required=False, allow_blank=True, max_length=100)
    bucket = serializers.ChoiceField(choices=list(BUCKETS), required=False, default="week")


# The response, for the OpenAPI schema only: the selector builds the dict.
_start = serializers.DateTimeField(help_text="start of the bucket (UTC midnight; Monday for weeks)")
_seconds = {"allow_null": True}

DoraMetricsSchema = inline_serializer(
    "DoraMetrics",
    {
        "since": serializers.DateTimeField(),
        "until": serializers.DateTimeField(),
        "project": serializers.CharField(allow_null=True),
        "environment": serializers.CharField(allow_null=True),
        "deployment_frequency": inline_serializer(
            "DoraDeploymentFrequency",
            {
                "count": serializers.IntegerField(help_text="successful production deployments in the window"),
                "per_day": serializers.FloatField(help_text="count / days in the window"),
                "band": serializers.CharField(help_text="elite, high, medium or low"),
                "series": inline_serializer(
                    "DoraCountBucket", {"start": _start, "count": serializers.IntegerField()}, many=True
                ),
            },
        ),
        "lead_time": inline_serializer(
            "DoraLeadTime",
            {
                "median_seconds": serializers.FloatField(**_seconds),
                "p90_seconds": serializers.FloatField(**_seconds),
                "commits": serializers.IntegerField(help_text="commits whose first deployment is in the window"),
                "band": serializers.CharField(allow_null=True),
                "series": inline_serializer(
                    "DoraLeadTimeBucket",
                    {
                        "start": _start,
                        "median_seconds": serializers.FloatField(**_seconds),
                        "commits": serializers.IntegerField(),
                    },
                    many=True,
                ),
            },
        ),
        "change_failure_rate": inline_serializer(
            "DoraChangeFailureRate",
            {
                "failed": serializers.IntegerField(help_text="failed changes"),
                "total": serializers.IntegerField(help_text="finished (success or failure) deployments"),
                "rate": serializers.FloatField(allow_null=True, help_text="0..1; null with no finished deployment"),
                "band": serializers.CharField(allow_null=True),
                "series": inline_serializer(
                    "DoraFailureBucket",
                    {
                        "start": _start,
                        "failed": serializers.IntegerField(),
                        "total": serializers.IntegerField(),
                        "rate": serializers.FloatField(allow_null=True),
                    },
                    many=True,
                ),
            },
        ),
        "recovery_time": inline_serializer(
            "DoraRecoveryTime",
            {
                "median_seconds": serializers.FloatField(**_seconds),
                "recovered": serializers.IntegerField(),
                "unrecovered": serializers.IntegerField(
                    help_text="failed changes not yet followed by a good one, or with an attributed incident still open"
                ),
                "band": serializers.CharField(allow_null=True),
                "series": inline_serializer(
                    "DoraRecoveryBucket",
                    {
                        "start": _start,
                        "median_seconds": serializers.FloatField(**_seconds),
                        "recovered": serializers.IntegerField(),
                        "unrecovered": serializers.IntegerField(),
                    },
                    many=True,
                ),
            },
        ),
        "rework_rate": inline_serializer(
            "DoraReworkRate",
            {
                "rework": serializers.IntegerField(help_text="successful deployments flagged is_fix or is_hotfix"),
                "total": serializers.IntegerField(help_text="successful deployments"),
                "rate": serializers.FloatField(allow_null=True),
                "series": inline_serializer(
                    "DoraReworkBucket",
                    {
                        "start": _start,
                        "rework": serializers.IntegerField(),
                        "total": serializers.IntegerField(),
                        "rate": serializers.FloatField(allow_null=True),
                    },
                    many=True,
                ),
            },
        ),
        "incidents": inline_serializer(
            "DoraIncidents",
            {
                "unattributed": serializers.IntegerField(
                    help_text="incidents in scope started in the window that no deployment is blamed for"
                ),
            },
        ),
    },
)


class DoraMetricsView(FormatParameterMixin, APIView):
    """The five DORA metrics of the token's organization, as defined in docs/metrics.md.

    ``?format=csv`` answers the series instead: one row per bucket, every metric side by side.
    """

    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CSVRenderer]

    @extend_schema(
        operation_id="metrics_dora",
        summary="DORA metrics",
        description=(
            "Deployment frequency, change lead time, change failure rate, failed deployment recovery time and "
            "rework rate over `[since, until)` (default: the last 30 days), counting production environments "
            "unless `environment` names one. Durations are in seconds and rates are fractions (0..1); a value "
            "with nothing to measure is null, with band null. Each metric has a series per `bucket` for charts."
        ),
        parameters=[
            OpenApiParameter(
                "since", OpenApiTypes.DATETIME, description="window start, inclusive (ISO 8601 with timezone)"
            ),
            OpenApiParameter(
                "until",
                OpenApiTypes.DATETIME,
                description=f"window end, exclusive (default now); at most {MAX_WINDOW.days} days after since",
            ),
            OpenApiParameter("project", OpenApiTypes.STR, description="a project name of the organization"),
            OpenApiParameter(
                "environment",
                OpenApiTypes.STR,
                description="an environment name (default: every production environment)",
            ),
            OpenApiParameter("bucket", OpenApiTypes.STR, enum=list(BUCKETS), description="series bucket (week)"),
        ],
        responses={200: DoraMetricsSchema, **errors(400, 401, 403, 429)},
        examples=[
            OpenApiExample(
                "Two weeks",
                response_only=True,
                value={
                    "since": "2024-03-04T00:00:00Z",
                    "until": "2024-03-18T00:00:00Z",
                    "project": None,
                    "environment": None,
                    "deployment_frequency": {
                        "count": 7,
                        "per_day": 0.5,
                        "band": "high",
                        "series": [
                            {"start": "2024-03-04T00:00:00Z", "count": 4},
                            {"start": "2024-03-11T00:00:00Z", "count": 3},
                        ],
                    },
                    "lead_time": {
                        "median_seconds": 25200.0,
                        "p90_seconds": 96480.0,
                        "commits": 7,
                        "band": "elite",
                        "series": [
                            {"start": "2024-03-04T00:00:00Z", "median_seconds": 25200.0, "commits": 5},
                            {"start": "2024-03-11T00:00:00Z", "median_seconds": 48600.0, "commits": 2},
                        ],
                    },
                    "change_failure_rate": {
                        "failed": 4,
                        "total": 9,
                        "rate": 0.4444,
                        "band": "low",
                        "series": [
                            {"start": "2024-03-04T00:00:00Z", "failed": 2, "total": 5, "rate": 0.4},
                            {"start": "2024-03-11T00:00:00Z", "failed": 2, "total": 4, "rate": 0.5},
                        ],
                    },
                    "recovery_time": {
                        "median_seconds": 7200.0,
                        "recovered": 3,
                        "unrecovered": 1,
                        "band": "high",
                        "series": [
                            {
                                "start": "2024-03-04T00:00:00Z",
                                "median_seconds": 6300.0,
                                "recovered": 2,
                                "unrecovered": 0,
                            },
                            {
                                "start": "2024-03-11T00:00:00Z",
                                "median_seconds": 7200.0,
                                "recovered": 1,
                                "unrecovered": 1,
                            },
                        ],
                    },
                    "rework_rate": {
                        "rework": 2,
                        "total": 7,
                        "rate": 0.2857,
                        "series": [
                            {"start": "2024-03-04T00:00:00Z", "rework": 1, "total": 4, "rate": 0.25},
                            {"start": "2024-03-11T00:00:00Z", "rework": 1, "total": 3, "rate": 0.3333},
                        ],
                    },
                    "incidents": {"unattributed": 0},
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        query = DoraQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        result = dora_metrics(
            organization=request.auth.organization,
            since=params.get("since"),
            until=params.get("until"),
            project=params.get("project") or None,
            environment=params.get("environment") or None,
            bucket=params["bucket"],
        )
        if isinstance(request.accepted_renderer, CSVRenderer):
            return csv_response(filename="dora-metrics.csv", header=SERIES_HEADER, rows=dora_series_rows(result))
        return Response(result)
