"""Serializer behaviour shared by the native API."""

from collections.abc import Mapping

from django.db import models
from rest_framework import serializers


def _json_type_error(field: serializers.Field, value) -> str | None:
    """Why ``value``, as JSON gave it, is not of ``field``'s type (None when it is).

    DRF coerces on purpose for HTML forms (``"yes"`` is true, ``0`` is the string "0"); a JSON
    client that sends ``"false"`` for a boolean means something DRF would get wrong, so it is
    told instead.
    """
    if value is None:
        return None  # the field's own allow_null decides
    if isinstance(field, serializers.BooleanField) and not isinstance(value, bool):
        return "must be true or false (a JSON boolean)"
    if isinstance(field, serializers.CharField) and not isinstance(value, str):
        return "must be a string"
    if isinstance(field, (serializers.IntegerField, serializers.FloatField)) and (
        isinstance(value, bool) or not isinstance(value, (int, float))
    ):
        return "must be a number"
    return None


def json_type_errors(fields: Mapping[str, serializers.Field], data: dict) -> dict:
    """``{name: [reason]}`` for each value of ``data`` whose JSON type its field would coerce, and
    ``{name: {index: [reason]}}`` for such items of a list (``"projects": [0]``), in the fields'
    order, as DRF reports."""
    wrong: dict = {}
    for name, field in fields.items():
        if name not in data:
            continue
        value = data[name]
        if isinstance(field, serializers.ListField) and isinstance(value, list):
            items = {
                index: [reason]
                for index, item in enumerate(value)
                if (reason := _json_type_error(field.child, item)) is not None
            }
            if items:
                wrong[name] = items
        elif (reason := _json_type_error(field, value)) is not None:
            wrong[name] = [reason]
    return wrong


class StrictJSONTypesMixin:
    """Refuse JSON values of the wrong type instead of coercing them, for a serializer that is
    also an object nested in a body (a commit, a ref) and keeps accepting keys it does not use.

    DRF's coercion suits HTML forms: ``"false"`` for a boolean would be stored as true, ``0`` for
    a name as the name "0".
    """

    def to_internal_value(self, data):
        # Only a JSON body is a plain dict; the browsable API's forms send strings (a QueryDict).
        if type(data) is dict and (wrong := json_type_errors(self.fields, data)):
            raise serializers.ValidationError(wrong)
        return super().to_internal_value(data)


class RejectUnknownFieldsMixin(StrictJSONTypesMixin):
    """Refuse fields the endpoint does not know, and JSON values of the wrong type, instead of
    silently dropping or coercing them.

    A typo (``"stauts": "failure"``) or another vendor's spelling (``"dateReleased"``) would
    otherwise answer 200/201 and change nothing the client meant to change; ``"is_hotfix":
    "false"`` would be stored as true by DRF's form-friendly coercion.
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
