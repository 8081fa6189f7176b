"""Metrics API routes under /api/v1/metrics/."""

from django.urls import path

from metrics.api import DoraMetricsView

urlpatterns = [
    path("dora/", DoraMetricsView.as_view(), name="metrics-dora"),
]
