"""Reads without the ORM's loader: the same model instances, a fraction of the cost.

A standalone read returns detached instances — the session is closed before the caller
sees them — so the identity map, autoflush and unit of work that an ``AsyncSession``
sets up for each call are pure overhead. For plain mapped classes (one table, no
inheritance, no deferred or SQL-expression columns, no ``load`` listeners) sqlops runs
the SELECT on a pooled connection and builds the instances the way SQLAlchemy's own
loader does: ``ClassManager.new_instance()``, the column values in ``__dict__``, the
identity key set. Relationships stay unloaded, so touching one raises ``LazyLoadError``
exactly as it does after the session path. Anything else takes the session path.
In an injected session the same instances are entered into the session's identity map
(:mod:`sqlops._attach`).

On asyncpg and aiosqlite the SELECT itself is a compiled template run on the driver
(see :mod:`sqlops._templates`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, select
from sqlalchemy.orm import ColumnProperty, Mapper

from . import _internals
from ._modelinfo import ModelInfo


@dataclass
class ReadPlan:
    """How to build detached instances of one model from rows of its table's columns."""

    info: ModelInfo
    keys: tuple[str, ...]
    columns: tuple[Column[Any], ...]
    pk_positions: tuple[int, ...]
    eligible: bool

    def build(self, row: Sequence[Any]) -> Any:
        """A detached instance holding ``row`` (values in ``self.columns`` order)."""
        return self._builder(row)

    @functools.cached_property
    def _builder(self) -> Callable[[Sequence[Any]], Any]:
        """``build`` as one closure (it runs once per row of every page)."""
        return _internals.instance_builder(self.info.mapper, self.keys, self.pk_positions)

    @functools.cached_property
    def build_all(self) -> Callable[[Iterable[Sequence[Any]]], list[Any]]:
        """Detached instances holding ``rows``, in order (one loop: streams build many)."""
        return _internals.batch_builder(self.info.mapper, self.keys, self.pk_positions)

    def select(self) -> Any:
        """``SELECT <every mapped column> FROM <table>``, to extend with criteria."""
        return select(*self.columns)

    @functools.cached_property
    def pk_columns(self) -> tuple[Column[Any], ...]:
        """The primary-key columns, in the mapper's order."""
        return tuple(self.columns[i] for i in self.pk_positions)

    @functools.cached_property
    def types(self) -> tuple[Any, ...]:
        """The column types, in ``columns`` order (the result types of :meth:`select`)."""
        return tuple(column.type for column in self.columns)


_plans: dict[type[Any], ReadPlan] = {}
# Loader strategies that load nothing with the row: the fast plan leaves them unloaded too.
_LAZY = ("select", "raise", "raise_on_sql", "dynamic", "write_only", True)


def plan_for(info: ModelInfo) -> ReadPlan:
    """The read plan of ``info``'s model (computed once)."""
    found = _plans.get(info.model)
    if found is None:
        found = _plans[info.model] = _make_plan(info)
    return found


def _make_plan(info: ModelInfo) -> ReadPlan:
    mapper = info.mapper
    keys: list[str] = []
    columns: list[Column[Any]] = []
    for prop in mapper.attrs:
        if isinstance(prop, ColumnProperty) and len(prop.columns) == 1:
            keys.append(prop.key)
            columns.append(prop.columns[0])  # type: ignore[arg-type]
    pk_positions = tuple(keys.index(k) for k in info.pk_keys) if _all_in(info, keys) else ()
    return ReadPlan(
        info=info,
        keys=tuple(keys),
        columns=tuple(columns),
        pk_positions=pk_positions,
        eligible=bool(pk_positions) and _eligible(mapper, columns),
    )


def _all_in(info: ModelInfo, keys: list[str]) -> bool:
    return all(k in keys for k in info.pk_keys)


def _eligible(mapper: Mapper[Any], columns: list[Column[Any]]) -> bool:
    """Whether instances can be built without the ORM loader changing anything."""
    if mapper.inherits is not None or mapper.polymorphic_on is not None:
        return False
    if not _internals.available(mapper):
        return False  # a SQLAlchemy without them: the ordinary session path still works
    if mapper.composites or mapper.with_polymorphic:
        return False
    if mapper.class_manager.dispatch.load or mapper.class_manager.dispatch.refresh:
        return False
    if any(rel.lazy not in _LAZY for rel in mapper.relationships):
        return False  # a relationship the ORM loads with every row (lazy="selectin", ...)
    table = mapper.local_table
    for prop in mapper.attrs:
        if not isinstance(prop, ColumnProperty):
            continue
        if prop.deferred or len(prop.columns) != 1:
            return False
        column = prop.columns[0]
        if not isinstance(column, Column) or column.table is not table:
            return False  # a column_property() expression or another table's column
    return len(columns) > 0
