"""Mapped objects from driver rows, for hot paths that run compiled statements on
asyncpg (service/reader.py) but hand the views and the services the objects they know.

An ORM execution of a statement that selects three entities and two JSON aggregates
cost about 1.9 ms of Python per request (cache key, execution context, row processing,
identity map); reading the same row on the driver and turning it into objects here,
the whole referral read took 0.6-0.8 ms (measured in process).

`Columns(Model, "r_")` labels each mapped column `r_<attribute>` for a select, and
`load(record)` builds a *transient* instance from such a row (no session tracks it: a
change to it is written by an explicit statement, never by a flush), converting each
value as the column's own SQLAlchemy type would (enums, JSON).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from sqlalchemy import inspect
from sqlalchemy.sql import ColumnElement

from service.reader import DIALECT

M = TypeVar("M")


class Columns(Generic[M]):
    """A model's mapped columns under a label prefix, and rows of them back to objects."""

    def __init__(self, model: type[M], prefix: str) -> None:
        mapper = inspect(model)
        self._new: Callable[[], M] = mapper.class_manager.new_instance
        self.labeled: list[ColumnElement[Any]] = []
        self._spec: list[tuple[str, str, Callable[[Any], Any] | None]] = []
        for prop in mapper.column_attrs:
            column = prop.columns[0]
            label = f"{prefix}{prop.key}"
            self.labeled.append(column.label(label))
            kind = column.type.dialect_impl(DIALECT)
            self._spec.append((prop.key, label, kind.result_processor(DIALECT, None)))

    def load(self, row: Mapping[str, Any]) -> M:
        """A transient instance from a driver row (values as asyncpg returns them)."""
        instance = self._new()
        values = instance.__dict__
        for key, label, processor in self._spec:
            value = row[label]
            values[key] = value if processor is None or value is None else processor(value)
        return instance

    def load_processed(self, row: Mapping[str, Any]) -> M:
        """A transient instance from a SQLAlchemy result row (values already converted)."""
        instance = self._new()
        values = instance.__dict__
        for key, label, _ in self._spec:
            values[key] = row[label]
        return instance
