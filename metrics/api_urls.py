"""Metrics API routes under /api/v1/metrics/ (to be filled in)."""

urlpatterns: list = []
