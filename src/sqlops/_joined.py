"""update_where / delete_where for joined-table inheritance: one statement per table.

A row of such a model spans several tables, and most backends cannot UPDATE or DELETE
several tables in one statement (SQLite cannot at all; SQLAlchemy refuses the rest). So
the matching primary keys are read first, inside the same transaction, and each table is
then changed by key: subclass tables first when deleting, so no foreign key breaks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Table, delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import attributes
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.util import sort_tables

if TYPE_CHECKING:
    from ._repobase import RepositoryBase as Repository

_KEYS_PER_STATEMENT = 1_000


async def matching_keys(
    repo: Repository[Any], session: AsyncSession, where: Sequence[ColumnElement[bool]]
) -> list[tuple[Any, ...]]:
    """The primary keys of the rows ``where`` selects (the ORM joins the tables)."""
    stmt = select(*repo.info.pk_attrs).where(*where)
    return [tuple(row) for row in (await session.execute(stmt)).all()]


def _by_key(table: Table, keys: list[tuple[Any, ...]]) -> ColumnElement[bool]:
    columns = list(table.primary_key.columns)
    if len(columns) == 1:
        return columns[0].in_([k[0] for k in keys])
    return tuple_(*columns).in_(keys)


def _chunks(keys: list[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
    return [keys[i : i + _KEYS_PER_STATEMENT] for i in range(0, len(keys), _KEYS_PER_STATEMENT)]


async def update_where(
    repo: Repository[Any],
    session: AsyncSession,
    where: Sequence[ColumnElement[bool]],
    values: dict[str, Any],
) -> int:
    """Set ``values`` (by attribute key) on the matching rows, table by table."""
    info = repo.info
    keys = await matching_keys(repo, session, where)
    per_table: dict[Table, dict[str, Any]] = {}
    for key, value in values.items():
        column = info.column(key)
        per_table.setdefault(column.table, {})[column.name] = value
    for chunk in _chunks(keys):
        for table, sets in per_table.items():
            await session.execute(update(table).where(_by_key(table, chunk)).values(sets))
    _sync(repo, session, keys, values)
    return len(keys)


async def delete_where(
    repo: Repository[Any], session: AsyncSession, where: Sequence[ColumnElement[bool]]
) -> int:
    """Delete the matching rows from every table of the model, subclass tables first."""
    keys = await matching_keys(repo, session, where)
    tables = [t for t in repo.info.mapper.tables if isinstance(t, Table)]
    for chunk in _chunks(keys):
        for table in reversed(sort_tables(tables)):
            await session.execute(delete(table).where(_by_key(table, chunk)))
    for obj in _loaded(repo, session, keys):
        session.expunge(obj)
    return len(keys)


def _loaded(repo: Repository[Any], session: AsyncSession, keys: list[tuple[Any, ...]]) -> list[Any]:
    mapper, identity_map = repo.info.mapper, session.sync_session.identity_map
    found = (identity_map.get(mapper.identity_key_from_primary_key(k)) for k in keys)
    return [obj for obj in found if obj is not None]


def _sync(
    repo: Repository[Any],
    session: AsyncSession,
    keys: list[tuple[Any, ...]],
    values: dict[str, Any],
) -> None:
    """Keep loaded instances in step, as ``synchronize_session`` would."""
    for obj in _loaded(repo, session, keys):
        for key, value in values.items():
            if isinstance(value, ClauseElement):
                session.expire(obj, [key])
            else:
                attributes.set_committed_value(obj, key, value)
