"""Serializer fields and filters shared by the native API."""

from datetime import UTC

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_filters import rest_framework as filters
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

NAIVE_MESSAGE = "must carry a timezone, for example 2024-05-01T12:00:00Z (a naive time is not guessed)"
FORMAT_MESSAGE = "must be an ISO 8601 date-time, for example 2024-05-01T12:00:00Z"


def parse_aware(value) -> "timezone.datetime":
    """Parse an ISO 8601 string into an aware datetime; raise ValueError with a message otherwise."""
    if not isinstance(value, str):
        raise ValueError(FORMAT_MESSAGE)
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(FORMAT_MESSAGE)
    if timezone.is_naive(parsed):
        raise ValueError(NAIVE_MESSAGE)
    # In UTC: Python accepts offsets up to ±23:59, PostgreSQL refuses beyond ±15:59 (a 500).
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(FORMAT_MESSAGE) from None


class AwareDateTimeField(serializers.DateTimeField):
    """A DateTimeField that refuses naive input instead of assuming the server's timezone."""

    def to_internal_value(self, value):
        try:
            return parse_aware(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class AwareDateTimeFormField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            return parse_aware(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class AwareDateTimeFilter(filters.Filter):
    field_class = AwareDateTimeFormField


class CappedListField(serializers.ListField):
    """A ListField whose length is checked before its items: DRF's own ``max_length`` runs after
    every item was validated, so a list of a million items would be cleaned before it is refused.
    A list that may not be empty has a ``min_length`` of 1, so the schema says ``minItems: 1``."""

    def __init__(self, **kwargs):
        if kwargs.get("allow_empty") is False:
            kwargs.setdefault("min_length", 1)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if self.max_length is not None and isinstance(data, list) and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class TagsField(serializers.Field):
    """A list of strings, or one comma-separated string (Multitudes' format), of at most
    ``max_length`` tags, counted before any tag is looked at."""

    default_error_messages = {
        "invalid": "must be a list of strings or a comma-separated string",
        "max_length": "at most {max_length} tags",
    }

    def __init__(self, *, max_length: int, **kwargs):
        self.max_length = max_length
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = data.split(",", self.max_length)  # one piece more than allowed is enough to refuse
        if not isinstance(data, list):
            self.fail("invalid")
        if len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        if not all(isinstance(item, str) for item in data):
            self.fail("invalid")
        return [item.strip() for item in data if item.strip()]

    def to_representation(self, value):
        return list(value or [])


class TagsFieldExtension(OpenApiSerializerFieldExtension):
    target_class = TagsField

    def map_serializer_field(self, auto_schema, direction):
        items = {"type": "array", "items": {"type": "string"}, "maxItems": self.target.max_length}
        return {"oneOf": [items, {"type": "string", "description": "comma-separated"}]}


class StrictBooleanFormField(forms.NullBooleanField):
    """``true`` or ``false`` (also ``1``/``0``), or absent: any other value is an error, not "no filter"."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        normalized = str(value).strip().lower()
        if normalized in ("true", "1"):
            return True
        if normalized in ("false", "0"):
            return False
        raise forms.ValidationError("must be true or false")

    def validate(self, value):
        pass


class StrictBooleanFilter(filters.BooleanFilter):
    """A boolean query parameter that refuses what is not one, as a choice filter refuses a bad choice."""

    field_class = StrictBooleanFormField

    def __init__(self, *args, **kwargs):
        # django-filter's BooleanWidget turns an unknown value into "no filter" before the field sees it.
        kwargs.setdefault("widget", forms.TextInput)
        super().__init__(*args, **kwargs)
