"""Fixed SQL for the statements every CI call runs: the token lookup and the deployment ingest.

Building and compiling a query with the ORM costs about a millisecond of CPU per statement on a
two-core machine (measured in bench/ingest.py), several times what PostgreSQL spends answering
it. The few statements on the ingest path therefore keep their SQL text fixed, built once per
model and database from the model's own metadata, and read and write values the way the ORM
does: ``Table.read`` applies the ORM's converters and builds instances with ``Model.from_db``;
``Table.insert_params`` prepares values with each field's ``pre_save`` and ``get_db_prep_value``,
as ``Model.save`` does for plain values. Every other query in the project goes through the ORM.

No model written here has signal receivers (the project connects none), so skipping
``Model.save`` skips nothing; instances are built without the constructor while nothing listens
to ``pre_init``/``post_init`` either (``Table._needs_constructor``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import (
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    Field,
    FloatField,
    ForeignKey,
    IntegerField,
    Model,
    TextField,
)
from django.db.models.base import ModelState
from django.db.models.fields import AutoFieldMixin
from django.db.models.signals import post_init, pre_init


def quote(name: str) -> str:
    # PostgreSQL and SQLite both quote identifiers with double quotes.
    return f'"{name}"'


class Table:
    """One model's columns, converters and INSERT statement, computed once.

    ``only`` limits the columns read (the primary key first): the instances ``read`` builds have
    the others deferred, loaded by the ORM on first access, as with ``QuerySet.only()``. Reading
    fewer columns matters here: every timestamp costs a Python-level parse in the driver.
    """

    def __init__(self, model: type[Model], *, only: Sequence[str] | None = None) -> None:
        self.model = model
        self.name = model._meta.db_table
        fields = model._meta.concrete_fields
        if only is not None:
            unknown = set(only) - {f.attname for f in fields}
            if unknown:
                raise ValueError(f"{model.__name__} has no column {', '.join(sorted(unknown))}")
            fields = [f for f in fields if f.primary_key or f.attname in only]
        self.fields = list(fields)
        self.attnames = [f.attname for f in self.fields]
        self._converters: dict[str, list[tuple[int, list, Any]]] = {}

    def columns(self, alias: str) -> str:
        """The read columns, qualified by ``alias``, in the order ``read`` expects them."""
        return ", ".join(f"{alias}.{quote(f.column)}" for f in self.fields)

    def _converters_for(self, connection: BaseDatabaseWrapper) -> list[tuple[int, list, Any]]:
        found = self._converters.get(connection.alias)
        if found is None:
            found = []
            for index, field in enumerate(self.fields):
                col = field.get_col(self.name)
                converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
                if converters:
                    found.append((index, converters, col))
            self._converters[connection.alias] = found
        return found

    def read(self, connection: BaseDatabaseWrapper, row: Sequence[Any], start: int = 0) -> Model | None:
        """The instance in ``row[start:start + len(columns)]``; None when its primary key is NULL (no row joined)."""
        values = list(row[start : start + len(self.fields)])
        if values[0] is None:
            return None
        for index, converters, col in self._converters_for(connection):
            value = values[index]
            for converter in converters:
                value = converter(value, col, connection)
            values[index] = value
        if self._needs_constructor:
            return self.model.from_db(connection.alias, self.attnames, values)
        return self._instance(dict(zip(self.attnames, values, strict=True)), db=connection.alias)

    @cached_property
    def _all_fields(self) -> list:
        return list(self.model._meta.concrete_fields)

    def new(self, *, related: dict[str, Model | None] | None = None, **values: Any) -> Model:
        """``Model(**values)`` for a row about to be inserted, without the keyword constructor.

        Django's constructor costs several times more per field than setting the values, and a
        deployment has thirty. ``values`` are by attname (``environment_id``); fields not given
        get their defaults; ``related`` sets foreign keys from instances, cached on the new
        object as ``select_related`` would (``relate``).
        """
        template, asked = self._defaults
        if not values.keys() <= template.keys():
            unknown = values.keys() - template.keys()
            raise TypeError(f"{self.model.__name__} has no field {', '.join(sorted(unknown))}")
        attvalues = template.copy()  # every field, in column order; constants already in
        for field in asked:
            if field.attname not in values:
                attvalues[field.attname] = field.get_default()
        attvalues.update(values)
        obj = self.model(*attvalues.values()) if self._needs_constructor else self._instance(attvalues, db=None)
        for name, instance in (related or {}).items():
            relate(obj, name, instance)
        return obj

    @cached_property
    def _defaults(self) -> tuple[dict[str, Any], list[Field]]:
        """Every field's default by attname, in column order, where it is an immutable constant; and
        the fields whose default must be asked for each new row (callables, mutable values)."""
        template: dict[str, Any] = {}
        asked = []
        for field in self._all_fields:
            template[field.attname] = None
            if not (field.has_default() and callable(field.default)) and not field.has_db_default():
                value = field.get_default()
                if type(value) in (str, bool, int, float, type(None)):
                    template[field.attname] = value
                    continue
            asked.append(field)
        return template, asked

    @cached_property
    def _needs_constructor(self) -> bool:
        # Instances are built as unpickling builds them (Model.__setstate__): the constructor's
        # pre_init and post_init signals are not sent. Where anything listens to them (no model
        # here has a receiver), the constructor is used instead.
        return pre_init.has_listeners(self.model) or post_init.has_listeners(self.model)

    def _instance(self, attvalues: dict[str, Any], *, db: str | None) -> Model:
        obj = self.model.__new__(self.model)
        state = obj._state = ModelState()
        state.db = db
        state.adding = db is None
        obj.__dict__.update(attvalues)
        return obj

    @cached_property
    def insert_fields(self) -> list:
        return [f for f in self.model._meta.concrete_fields if not f.primary_key]

    def insert_columns(self) -> str:
        return ", ".join(quote(f.column) for f in self.insert_fields)

    def insert_placeholders(
        self, prefix: str, *, overrides: dict[str, str] | None = None, casts: Sequence[str] | None = None
    ) -> str:
        """Named placeholders ``%(<prefix><attname>)s`` in column order; ``overrides`` maps an attname to SQL.

        ``casts`` (from ``cast_types``) wraps each placeholder in a CAST to its column's type, for
        an ``INSERT ... SELECT``, where PostgreSQL does not infer a parameter's type from the column.
        """
        overrides = overrides or {}
        placeholders = []
        for index, field in enumerate(self.insert_fields):
            placeholder = f"%({prefix}{field.attname})s"
            if casts is not None:
                placeholder = f"CAST({placeholder} AS {casts[index]})"
            placeholders.append(overrides.get(field.attname, placeholder))
        return ", ".join(placeholders)

    def cast_types(self, connection: BaseDatabaseWrapper) -> tuple[str, ...]:
        """Each insert column's type on ``connection``, as CAST spells it."""
        return tuple(f.cast_db_type(connection) for f in self.insert_fields)

    def insert_params(
        self, obj: Model, connection: BaseDatabaseWrapper, prefix: str, *, skip: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """The values ``save(force_insert=True)`` would send, keyed for ``insert_placeholders``.

        ``skip`` names attnames the statement does not take as parameters (an ``overrides`` column).
        """
        params = {}
        for field, key, own_pre_save, unchanged, adapt_integer in self._insert_plan(prefix, connection.alias, skip):
            # Field.pre_save only reads the attribute unless a field overrides it (auto_now).
            value = field.pre_save(obj, True) if own_pre_save else getattr(obj, field.attname)
            kind = type(value)
            if kind in unchanged and (kind is not datetime or value.tzinfo is not None):
                params[key] = value
            elif adapt_integer is not None and kind is int:
                params[key] = adapt_integer(value)
            else:
                params[key] = field.get_db_prep_value(value, connection, prepared=False)
        return params

    @functools.cache  # noqa: B019 - one Table per model, kept for the process's life
    def _insert_plan(self, prefix: str, alias: str, skip: frozenset[str]) -> list[tuple]:
        connection = connections[alias]
        return [
            (
                f,
                f"{prefix}{f.attname}",
                has_own_pre_save(f),
                passes_unchanged(f, connection),
                integer_adapter(f, connection),
            )
            for f in self.insert_fields
            if f.attname not in skip
        ]

    @cached_property
    def _insert_sql(self) -> str:
        pk = quote(self.model._meta.pk.column)
        return (
            f"INSERT INTO {quote(self.name)} ({self.insert_columns()})"  # noqa: S608
            f" VALUES ({self.insert_placeholders('v_')}) RETURNING {pk}"
        )

    def insert(self, obj: Model, connection: BaseDatabaseWrapper) -> Model:
        """INSERT ``obj`` as ``save(force_insert=True)`` would, in one statement; sets its primary key."""
        row = fetchone(connection, self._insert_sql, self.insert_params(obj, connection, "v_"))
        mark_saved(obj, row[0], connection)
        return obj


def has_own_pre_save(field: Field) -> bool:
    """Whether ``field.pre_save`` does more than read the attribute.

    Django's date and time fields override it for ``auto_now``/``auto_now_add`` only; without
    either it is ``Field.pre_save``'s plain read.
    """
    cls = type(field)
    if cls.pre_save is Field.pre_save:
        return False
    if cls.pre_save in (DateTimeField.pre_save, DateField.pre_save):
        return bool(field.auto_now or field.auto_now_add)
    return True


def passes_unchanged(field: Field, connection: BaseDatabaseWrapper) -> frozenset[type]:
    """The value types ``field.get_db_prep_value`` gives back unchanged on ``connection``.

    Preparing thirty values through each field's chain of methods is a visible part of an
    insert. For Django's own text, boolean and (where the backend passes them through, as
    PostgreSQL does) aware datetime fields, an exact ``str``, ``bool``, ``datetime`` or ``None``
    comes out as it went in: those skip the chain; so does ``None`` for Django's own integer
    and float fields and foreign keys to an integer key (NULL on every backend). Any field that
    overrides the methods involved, and every other type (integers are wrapped for PostgreSQL's
    binding, JSON is adapted), goes through it. tests/core/test_rawsql.py compares both for whole
    rows.
    """
    cls = type(field)
    if cls.get_db_prep_value is Field.get_db_prep_value:
        if (cls.get_prep_value, cls.to_python) in (
            (CharField.get_prep_value, CharField.to_python),
            (TextField.get_prep_value, TextField.to_python),
        ):
            return frozenset({str, type(None)})
        if (cls.get_prep_value, cls.to_python) == (BooleanField.get_prep_value, BooleanField.to_python):
            return frozenset({bool, type(None)})
    if (cls.get_db_prep_value, cls.get_prep_value, cls.to_python) == (
        DateTimeField.get_db_prep_value,
        DateTimeField.get_prep_value,
        DateTimeField.to_python,
    ):
        probe = datetime(2000, 1, 1, tzinfo=UTC)
        if (
            connection.ops.adapt_datetimefield_value(probe) is probe
            and connection.ops.adapt_datetimefield_value(None) is None
        ):
            return frozenset({datetime, type(None)})
    if _none_is_null(field, connection):
        return frozenset({type(None)})
    return frozenset()


def _none_is_null(field: Field, connection: BaseDatabaseWrapper) -> bool:
    """Django's own integer, float and auto fields (and foreign keys to them) prepare ``None`` as ``None``."""
    cls = type(field)
    if isinstance(field, ForeignKey):
        return cls.get_db_prep_value is ForeignKey.get_db_prep_value and _none_is_null(field.target_field, connection)
    stock = (
        (IntegerField.get_prep_value, IntegerField.get_db_prep_value),
        (IntegerField.get_prep_value, AutoFieldMixin.get_db_prep_value),
        (FloatField.get_prep_value, Field.get_db_prep_value),
    )
    return (cls.get_prep_value, cls.get_db_prep_value) in stock and (
        field.get_db_prep_value(None, connection, prepared=False) is None
    )


def integer_adapter(field: Field, connection: BaseDatabaseWrapper) -> Callable[[int], Any] | None:
    """For Django's own integer fields (and foreign keys to them): what their preparation does to an ``int``.

    ``IntegerField.get_db_prep_value`` ends in ``connection.ops.adapt_integerfield_value(value,
    internal_type)`` (PostgreSQL wraps the value in the column's integer type); an auto field's
    in ``connection.ops.validate_autopk_value(value)``. ``get_prep_value``'s ``int(value)``
    before that changes nothing for an exact ``int``.
    """
    if isinstance(field, ForeignKey) and type(field).get_db_prep_value is ForeignKey.get_db_prep_value:
        field = field.target_field
    cls = type(field)
    if not isinstance(field, IntegerField) or cls.get_prep_value is not IntegerField.get_prep_value:
        return None
    if cls.get_db_prep_value is IntegerField.get_db_prep_value:
        internal_type = field.get_internal_type()
        return lambda value: connection.ops.adapt_integerfield_value(value, internal_type)
    if cls.get_db_prep_value is AutoFieldMixin.get_db_prep_value:
        return connection.ops.validate_autopk_value
    return None


def relate(obj: Model, name: str, instance: Model | None) -> None:
    """``obj.<name> = instance`` for a foreign key, without the descriptor's checks (both rows are ours)."""
    field = _relation(type(obj), name)
    # Straight into the instance, as the constructor would: the attname descriptor's __set__
    # only clears a cached object that is about to be replaced anyway.
    obj.__dict__[field.attname] = None if instance is None else instance.pk
    field.set_cached_value(obj, instance)


@functools.cache
def _relation(model: type[Model], name: str) -> Field:
    return model._meta.get_field(name)


def mark_saved(obj: Model, pk: Any, connection: BaseDatabaseWrapper) -> None:
    """What ``Model.save`` leaves on an instance it inserted."""
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = connection.alias


def fetchone(connection: BaseDatabaseWrapper, sql: str, params: dict[str, Any] | Sequence[Any]) -> tuple | None:
    with connection.cursor() as cursor, prepared(connection):
        cursor.execute(sql, params)
        return cursor.fetchone()


@contextmanager
def prepared(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """Within this block, PostgreSQL prepares each statement once per connection and reuses it.

    For the few fixed statements of this module only: they take longer to plan than to run
    (the ingest statement ~0.6 ms against ~0.2 ms), and they look rows up by keys, so the
    generic plan PostgreSQL settles on serves every organization. Every other query is planned
    for its own parameters, as without prepared statements: a generic plan for the metrics'
    aggregates was a third slower at 1,000,000 deployments than at 100,000 (bench/metrics.py).
    Needs server-side binding (settings.PREPARED_STATEMENTS).
    """
    raw = connection.connection
    if connection.vendor != "postgresql" or not connection.settings_dict["OPTIONS"].get("server_side_binding"):
        yield
        return
    previous = raw.prepare_threshold
    raw.prepare_threshold = 0
    try:
        yield
    finally:
        raw.prepare_threshold = previous


def set_prefetched(instance: Model, related_name: str, objects: list[Model]) -> None:
    """Attach ``objects`` as the prefetched ``instance.<related_name>.all()``, as ``prefetch_related`` does.

    For a row just written whose related rows are known without reading them back.
    """
    # What the related manager's all() returns when a prefetch is cached; built directly, as
    # the manager's own queryset would first compile its filter on the instance.
    related_model = instance._meta.get_field(related_name).related_model
    queryset = related_model._base_manager.get_queryset()
    queryset._result_cache = list(objects)
    queryset._prefetch_done = True
    if not hasattr(instance, "_prefetched_objects_cache"):
        instance._prefetched_objects_cache = {}
    instance._prefetched_objects_cache[related_name] = queryset
