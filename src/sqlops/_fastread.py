"""Standalone reads without an ORM session: the same model instances, a fraction of the cost.

A standalone read returns detached instances — the session is closed before the caller
sees them — so the identity map, autoflush and unit of work that an ``AsyncSession``
sets up for each call are pure overhead. For plain mapped classes (one table, no
inheritance, no deferred or SQL-expression columns, no ``load`` listeners) sqlops runs
the SELECT on a pooled connection and builds the instances the way SQLAlchemy's own
loader does: ``ClassManager.new_instance()``, the column values in ``__dict__``, the
identity key set. Relationships stay unloaded, so touching one raises ``LazyLoadError``
exactly as it does after the session path. Anything else takes the session path.

Primary-key reads on asyncpg go further: the SQL is compiled once per model and run with
the driver's ``fetchrow`` (asyncpg keeps it prepared), which is what keeps ``get`` close
to raw asyncpg.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, bindparam, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import ColumnProperty, Mapper
from sqlalchemy.orm.attributes import instance_state

from ._modelinfo import ModelInfo


@dataclass
class ReadPlan:
    """How to build detached instances of one model from rows of its table's columns."""

    info: ModelInfo
    keys: tuple[str, ...]
    columns: tuple[Column[Any], ...]
    pk_positions: tuple[int, ...]
    eligible: bool
    _get: dict[int, _GetStatement] = field(default_factory=dict)

    def build(self, row: Sequence[Any]) -> Any:
        """A detached instance holding ``row`` (values in ``self.columns`` order)."""
        obj = self.info.mapper.class_manager.new_instance()
        state = instance_state(obj)
        state.dict.update(zip(self.keys, row, strict=False))
        state.key = self.info.mapper.identity_key_from_primary_key(
            tuple(row[i] for i in self.pk_positions)
        )
        return obj

    def build_all(self, rows: Sequence[Sequence[Any]]) -> list[Any]:
        build = self.build
        return [build(row) for row in rows]

    def select(self) -> Any:
        """``SELECT <every mapped column> FROM <table>``, to extend with criteria."""
        return select(*self.columns)


_plans: dict[type[Any], ReadPlan] = {}


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


# ----------------------------------------------------------------------------- get on asyncpg


@dataclass(frozen=True)
class _GetStatement:
    sql: str
    bind: tuple[Any, ...]
    result: tuple[Any, ...] | None


def get_statement(plan: ReadPlan, dialect: Dialect) -> _GetStatement:
    """``SELECT … WHERE pk = $1`` compiled for ``dialect``, with its bind processors."""
    found = plan._get.get(id(dialect))
    if found is None:
        pk_columns = [plan.columns[i] for i in plan.pk_positions]
        stmt = plan.select().where(
            *(col == bindparam(f"pk{n}", type_=col.type) for n, col in enumerate(pk_columns))
        )
        compiled = stmt.compile(dialect=dialect)
        bind = tuple(col.type._cached_bind_processor(dialect) for col in pk_columns)
        found = plan._get[id(dialect)] = _GetStatement(str(compiled), bind, None)
    return found


async def fetch_by_pk(
    plan: ReadPlan, dialect: Dialect, driver: Any, pk: tuple[Any, ...]
) -> Any | None:
    """Run the primary-key SELECT on an asyncpg connection and build the instance."""
    statement = get_statement(plan, dialect)
    if statement.result is None:
        statement = await _learn_types(plan, dialect, driver, statement)
    args = [p(v) if p is not None else v for p, v in zip(statement.bind, pk, strict=True)]
    row = await driver.fetchrow(statement.sql, *args)
    if row is None:
        return None
    assert statement.result is not None
    values = [p(v) if p is not None else v for p, v in zip(statement.result, row, strict=True)]
    return plan.build(values)


async def _learn_types(
    plan: ReadPlan, dialect: Dialect, driver: Any, statement: _GetStatement
) -> _GetStatement:
    """Result processors depend on the server's type OIDs (asyncpg Numeric): ask once."""
    prepared = await driver.prepare(statement.sql)
    oids = [attribute.type.oid for attribute in prepared.get_attributes()]
    result = tuple(
        col.type._cached_result_processor(dialect, oid)
        for col, oid in zip(plan.columns, oids, strict=True)
    )
    learned = plan._get[id(dialect)] = _GetStatement(statement.sql, statement.bind, result)
    return learned
