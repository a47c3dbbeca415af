"""Standalone reads without an ORM session: the same model instances, a fraction of the cost.

A standalone read returns detached instances — the session is closed before the caller
sees them — so the identity map, autoflush and unit of work that an ``AsyncSession``
sets up for each call are pure overhead. For plain mapped classes (one table, no
inheritance, no deferred or SQL-expression columns, no ``load`` listeners) sqlops runs
the SELECT on a pooled connection and builds the instances the way SQLAlchemy's own
loader does: ``ClassManager.new_instance()``, the column values in ``__dict__``, the
identity key set. Relationships stay unloaded, so touching one raises ``LazyLoadError``
exactly as it does after the session path. Anything else takes the session path.

On asyncpg and aiosqlite the SELECT itself is a compiled template run on the driver
(see :mod:`sqlops._templates`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, select
from sqlalchemy.orm import ColumnProperty, Mapper

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
        """``build`` as one closure: what ``ClassManager.new_instance()`` does, inlined.

        It runs once per row of every page, so each attribute lookup counts; the steps
        are the ORM loader's own (``__new__``, the state, ``__dict__``, the identity key).
        """
        mapper = self.info.mapper
        cls: Any = mapper.class_
        manager = mapper.class_manager
        new, construct, attach = cls.__new__, manager._state_constructor, manager._state_setter
        identity_class, keys, positions = mapper._identity_class, self.keys, self.pk_positions

        def build(row: Sequence[Any]) -> Any:
            obj = new(cls)
            state = construct(obj, manager)
            attach(obj, state)
            obj.__dict__.update(zip(keys, row, strict=False))  # page rows carry a total
            state.key = (identity_class, tuple([row[i] for i in positions]), None)
            return obj

        return build

    def build_all(self, rows: Sequence[Sequence[Any]]) -> list[Any]:
        build = self._builder
        return [build(row) for row in rows]

    def select(self) -> Any:
        """``SELECT <every mapped column> FROM <table>``, to extend with criteria."""
        return select(*self.columns)

    @property
    def types(self) -> tuple[Any, ...]:
        """The column types, in ``columns`` order (the result types of :meth:`select`)."""
        return tuple(column.type for column in self.columns)


_plans: dict[type[Any], ReadPlan] = {}
# What ClassManager.new_instance() uses; private to SQLAlchemy (2.0 and 2.1 have them).
_MANAGER_INTERNALS = ("_state_constructor", "_state_setter")


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
    if not all(hasattr(mapper.class_manager, a) for a in _MANAGER_INTERNALS):
        return False  # a SQLAlchemy without them: the ordinary session path still works
    if not hasattr(mapper, "_identity_class"):
        return False
    if mapper.composites or mapper.with_polymorphic:
        return False
    if mapper.class_manager.dispatch.load or mapper.class_manager.dispatch.refresh:
        return False
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
