"""Fixed SQL for the statements every CI call runs: the token lookup and the deployment ingest.

Building and compiling a query with the ORM costs about a millisecond of CPU per statement on a
two-core machine (measured in bench/ingest.py), several times what PostgreSQL spends answering
it. The few statements on the ingest path therefore keep their SQL text fixed, built once per
model and database from the model's own metadata, and read and write values the way the ORM
does: ``Table.read`` applies the ORM's converters and builds instances with ``Model.from_db``;
``Table.insert`` prepares values with each field's ``pre_save`` and ``get_db_prep_save``. Every
other query in the project goes through the ORM.

No model written here has signal receivers (the project connects none), so skipping
``Model.save`` skips nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model


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
        return self.model.from_db(connection.alias, self.attnames, values)

    @cached_property
    def _all_fields(self) -> list:
        return list(self.model._meta.concrete_fields)

    def new(self, *, related: dict[str, Model | None] | None = None, **values: Any) -> Model:
        """``Model(**values)`` through the positional constructor that ``from_db`` uses.

        Django's keyword constructor costs several times more per field, and a deployment has
        thirty. ``values`` are by attname (``environment_id``); ``related`` sets foreign keys from
        instances, cached on the new object as ``select_related`` would (``relate``).
        """
        args = [values.pop(f.attname) if f.attname in values else f.get_default() for f in self._all_fields]
        if values:
            raise TypeError(f"{self.model.__name__} has no field {', '.join(sorted(values))}")
        obj = self.model(*args)
        for name, instance in (related or {}).items():
            relate(obj, name, instance)
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

    def insert_params(self, obj: Model, connection: BaseDatabaseWrapper, prefix: str) -> dict[str, Any]:
        """The values ``save(force_insert=True)`` would send, keyed for ``insert_placeholders``."""
        params = {}
        for field, key, own_pre_save in self._insert_plan(prefix):
            # Field.pre_save only reads the attribute unless a field overrides it (auto_now).
            value = field.pre_save(obj, True) if own_pre_save else getattr(obj, field.attname)
            params[key] = field.get_db_prep_value(value, connection, prepared=False)
        return params

    @functools.cache  # noqa: B019 - one Table per model, kept for the process's life
    def _insert_plan(self, prefix: str) -> list[tuple[Field, str, bool]]:
        return [(f, f"{prefix}{f.attname}", type(f).pre_save is not Field.pre_save) for f in self.insert_fields]

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


def relate(obj: Model, name: str, instance: Model | None) -> None:
    """``obj.<name> = instance`` for a foreign key, without the descriptor's checks (both rows are ours)."""
    field = obj._meta.get_field(name)
    setattr(obj, field.attname, None if instance is None else instance.pk)
    field.set_cached_value(obj, instance)


def mark_saved(obj: Model, pk: Any, connection: BaseDatabaseWrapper) -> None:
    """What ``Model.save`` leaves on an instance it inserted."""
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = connection.alias


def fetchone(connection: BaseDatabaseWrapper, sql: str, params: dict[str, Any] | Sequence[Any]) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


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
