"""Serializer behaviour shared by the native API."""

from collections.abc import Mapping

from django.db import models
from rest_framework import serializers


class RejectUnknownFieldsMixin:
    """Refuse fields the endpoint does not know instead of silently dropping them.

    A typo (``"stauts": "failure"``) or another vendor's spelling (``"dateReleased"``) would
    otherwise answer 200/201 and change nothing the client meant to change.
    """

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(str(key) for key in data if key not in self.fields)
            if unknown:
                writable = sorted(name for name, field in self.fields.items() if not field.read_only)
                message = f"unknown field (accepted: {', '.join(writable)})"
                raise serializers.ValidationError({name: [message] for name in unknown})
        return super().to_internal_value(data)


def model_max_length(model: type[models.Model], field_name: str) -> int:
    """The ``max_length`` of a model's field: a write serializer's limit for a value stored there,
    so each limit is written once, in the model."""
    return model._meta.get_field(field_name).max_length
