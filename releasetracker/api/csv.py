"""``?format=csv`` on the native API's lists: the same filters and tenancy, streamed as CSV rows.

A list viewset mixes in ``CSVListMixin`` and names the serializer of one row (flat fields only).
Errors stay JSON in the native shape, whatever format was asked for.
"""

from django.http import Http404
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer

from releasetracker.exports import serializer_csv_response


class CSVRenderer(BaseRenderer):
    """Offers ``text/csv`` (``?format=csv`` or ``Accept: text/csv``) to content negotiation.

    The rows never pass through here (``CSVListMixin.list`` streams them); what does is an
    error, which the mixin renders as JSON instead.
    """

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data, "application/json", renderer_context)


class FormatParameterMixin:
    """``?format=`` names a format the endpoint has, else it is a 400 naming the parameter
    (DRF answers a 404, as if the resource were missing); and an error is JSON whatever format
    was asked for."""

    def handle_exception(self, exc):
        # A 400 for a bad filter or a 401 reads as JSON, like every other error of the API.
        if isinstance(getattr(self.request, "accepted_renderer", None), CSVRenderer):
            self.request.accepted_renderer = JSONRenderer()
            self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:
            formats = ", ".join(renderer.format for renderer in self.get_renderers())
            raise ValidationError({"format": [f"must be one of: {formats}"]}) from None


class CSVListMixin:
    csv_serializer_class = None
    csv_filename = "export.csv"

    def get_renderers(self):
        renderers = super().get_renderers()
        return [*renderers, CSVRenderer()] if getattr(self, "action", None) == "list" else renderers

    def csv_queryset(self, queryset):
        """The filtered queryset as the CSV reads it (a subclass drops what the rows do not show)."""
        return queryset

    def list(self, request, *args, **kwargs):
        if getattr(request.accepted_renderer, "format", None) != CSVRenderer.format:
            return super().list(request, *args, **kwargs)
        queryset = self.csv_queryset(self.filter_queryset(self.get_queryset()))
        queryset = queryset.order_by(*self.paginator.ordering)
        return serializer_csv_response(
            queryset,
            self.csv_serializer_class or self.get_serializer_class(),
            filename=self.csv_filename,
            context=self.get_serializer_context(),
        )
