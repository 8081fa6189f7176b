"""Serializer behaviour shared by the native API."""

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import MaxLengthValidator, MinLengthValidator, ProhibitNullCharactersValidator
from rest_framework import serializers
from rest_framework.fields import SkipField, empty
from rest_framework.validators import ProhibitSurrogateCharactersValidator


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


class PrebuiltFieldsMixin:
    """Build a write serializer's fields once per class, and validate a request with only the fields it sends.

    DRF deep-copies every declared field (re-running each field's ``__init__``) for every
    serializer instance, then runs every field's validation, absent ones included: for a write
    serializer of ~30 fields of which a CI call sends five, that is most of the cost of the
    request's validation (measured in bench/ingest.py). Here the fields are built once per class
    and each instance gets shallow copies (a field's state after ``__init__`` is not changed by
    validation; nested serializers keep DRF's deep copy so their children bind to this instance).

    A plain JSON object whose keys are all known and that carries every required field is
    validated field by field with each field's own ``run_validation`` (a string for a plain
    ``CharField`` by the same rules without building the field: ``_TextRule``), and absent
    fields get their defaults, exactly as DRF does. Anything else, and any error, goes through
    DRF's own ``to_internal_value``, so every error answer is DRF's.
    """

    def get_fields(self):
        return {name: _copy_field(field) for name, field in self._prebuilt().items()}

    @classmethod
    def _prebuilt(cls) -> dict:
        prebuilt = cls.__dict__.get("_prebuilt_fields")
        if prebuilt is None:
            # Built from a throwaway instance: ModelSerializer introspection needs one.
            prebuilt = super(PrebuiltFieldsMixin, cls.__new__(cls)).get_fields()
            for field in prebuilt.values():
                if not isinstance(field, serializers.BaseSerializer):
                    field.validators = [_faster(validator) for validator in field.validators]
            cls._prebuilt_fields = prebuilt
        return prebuilt

    @classmethod
    def _plan(cls):
        """(writable fields by name, required names, (name, field, source attrs) with a default,
        plain text fields' rules by name), or None for DRF."""
        plan = cls.__dict__.get("_validation_plan", False)
        if plan is False:
            writable = {name: f for name, f in cls._prebuilt().items() if not f.read_only}
            special = any(
                hasattr(cls, f"validate_{name}") or f.source == "*" or isinstance(f, serializers.HiddenField)
                for name, f in writable.items()
            )
            plan = (
                None
                if special
                else (
                    writable,
                    frozenset(name for name, f in writable.items() if f.required),
                    [
                        (name, f, (f.source or name).split("."))
                        for name, f in writable.items()
                        if not f.required and f.default is not empty
                    ],
                    {name: rule for name, f in writable.items() if (rule := _text_rule(name, f)) is not None},
                )
            )
            cls._validation_plan = plan
        return plan

    def to_internal_value(self, data):
        plan = self._plan()
        if plan is None or type(data) is not dict or getattr(self.root, "partial", False):
            return super().to_internal_value(data)
        writable, required, defaulted, texts = plan
        known = self._prebuilt()
        if not required <= data.keys() or any(key not in known for key in data):
            return super().to_internal_value(data)
        validated: dict = {}
        try:
            for name, value in data.items():
                prototype = writable.get(name)
                if prototype is None:
                    continue  # a read-only field: DRF ignores it too
                rule = texts.get(name)
                if rule is not None and type(value) is str:
                    text = rule.clean(value)
                    if text is not None:
                        self.set_value(validated, rule.source_attrs, text)
                        continue
                field = _copy_field(prototype)
                field.bind(name, self)
                self.set_value(validated, field.source_attrs, field.run_validation(field.get_value(data)))
            for name, prototype, source_attrs in defaulted:
                if name in data:
                    continue
                if callable(prototype.default):  # may need the bound field (requires_context)
                    field = _copy_field(prototype)
                    field.bind(name, self)
                    value = field.get_default()
                else:
                    value = prototype.default
                self.set_value(validated, source_attrs, value)
        except (serializers.ValidationError, DjangoValidationError, SkipField):
            return super().to_internal_value(data)
        return validated

    def _read_only_defaults(self):
        # DRF builds every field to find read-only ones with a default, for each validation.
        if self._has_read_only_defaults():
            return super()._read_only_defaults()
        return {}

    @classmethod
    def _has_read_only_defaults(cls) -> bool:
        found = cls.__dict__.get("_read_only_default_fields")
        if found is None:
            found = cls._read_only_default_fields = any(
                f.read_only and f.default is not empty for f in cls._prebuilt().values()
            )
        return found


@dataclass(frozen=True)
class _TextRule:
    """What DRF's plain ``CharField`` checks of a string, to validate one without building the field.

    ``clean`` gives what the field's ``run_validation`` returns for a valid string, and None
    for anything it would refuse: that value then goes through the field itself, which raises
    DRF's own error (``tests/core/test_api_plumbing.py`` compares both on many payloads).
    """

    source_attrs: list[str]
    trim: bool
    allow_blank: bool
    max_length: int | None
    min_length: int | None

    def clean(self, value: str) -> str | None:
        text = value.strip() if self.trim else value
        if not text:  # DRF: '' (or only whitespace, when trimming) is blank and skips the validators
            return "" if self.allow_blank else None
        if self.max_length is not None and len(text) > self.max_length:
            return None
        if self.min_length is not None and len(text) < self.min_length:
            return None
        if "\x00" in text or _SURROGATE.search(text):
            return None
        return text


def _text_rule(name: str, field) -> _TextRule | None:
    """The rule of a plain ``CharField`` whose only validators are the ones it adds itself, else None."""
    if type(field) is not serializers.CharField:
        return None
    expected = {ProhibitNullCharactersValidator: None, _ProhibitSurrogateCharactersValidator: None}
    if field.max_length is not None:
        expected[MaxLengthValidator] = field.max_length
    if field.min_length is not None:
        expected[MinLengthValidator] = field.min_length
    found = {type(validator): getattr(validator, "limit_value", None) for validator in field.validators}
    if len(field.validators) != len(expected) or found != expected:
        return None
    return _TextRule(
        source_attrs=(field.source or name).split("."),
        trim=field.trim_whitespace,
        allow_blank=field.allow_blank,
        max_length=field.max_length,
        min_length=field.min_length,
    )


# Lone UTF-16 surrogates, which DRF's CharField refuses (they cannot be stored as UTF-8).
_SURROGATE = re.compile("[\ud800-\udfff]")


class _ProhibitSurrogateCharactersValidator(ProhibitSurrogateCharactersValidator):
    """DRF's check, with the scan done by a regular expression instead of a Python loop per character."""

    def __call__(self, value):
        if _SURROGATE.search(str(value)):
            super().__call__(value)  # DRF's own error


def _faster(validator):
    if type(validator) is ProhibitSurrogateCharactersValidator:
        return _ProhibitSurrogateCharactersValidator()
    return validator


def _copy_field(field):
    if isinstance(field, serializers.BaseSerializer):
        return copy.deepcopy(field)
    # copy.copy() without the pickle protocol's detour (and Field.__new__'s bookkeeping).
    clone = object.__new__(type(field))
    clone.__dict__.update(field.__dict__)
    return clone


def iso_datetime(value: datetime | None, zone: tzinfo) -> str | None:
    """A datetime as DRF's DateTimeField renders it with ``DATETIME_FORMAT = "iso-8601"``.

    ``zone`` is the current time zone (``timezone.get_current_timezone()``), as DRF uses.
    """
    if value is None:
        return None
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
