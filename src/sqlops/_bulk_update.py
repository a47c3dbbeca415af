"""update_many: different values per row, one UPDATE per chunk, the backend's fastest form.

* PostgreSQL: ``UPDATE t SET … FROM (VALUES …) AS v (…) WHERE t.key = v.key``
* SQLite 3.33+: the same, with the rows in a ``WITH v(…) AS (VALUES …)`` (SQLite cannot
  name a derived table's columns); older SQLite gets ``SET c = CASE … END``.
* MariaDB / MySQL: a multi-table ``UPDATE t, (SELECT … UNION ALL SELECT …) AS v SET …``.
  Never ``INSERT … ON DUPLICATE KEY UPDATE``: it would insert a row whose key is missing.

Within a chunk, rows with the same key merge in order (later values win, as they would
one UPDATE after another); merged rows are grouped by the set of columns they set, so rows
may set different columns: one statement per chunk and column set.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    case,
    column,
    or_,
    select,
    text,
    union_all,
    update,
    values,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import attributes

from . import _bulk
from ._errors import ConstraintViolation, InvalidValueError, NotNullViolation
from ._modelinfo import ModelInfo

if TYPE_CHECKING:
    from ._repobase import RepositoryBase as Repository

UPDATE_CHUNK = 1_000
_MAX_PARAMS = 30_000  # under PostgreSQL's 32,767 and SQLite's 32,766 bound parameters


@dataclass
class _Row:
    """One merged input row: its key, the values to set and the input rows it came from."""

    key: tuple[Any, ...]
    values: dict[str, Any]
    indexes: list[int] = field(default_factory=list)


async def update_many(
    repo: Repository[Any],
    session: AsyncSession,
    rows: Iterable[Any],
    key: Sequence[Any] | str | None,
    chunk_size: int | None,
    with_deleted: bool,
) -> int:
    info = repo.info
    keys = key_columns(info, key)
    size = chunk_size or max(1, min(UPDATE_CHUNK, _MAX_PARAMS // max(1, len(info.columns))))
    if size < 1:
        raise ValueError("chunk_size must be >= 1")
    form = _form(repo.dialect)
    total = done = 0
    for chunk in _bulk.chunks(rows, size):
        merged = _merge(info, keys, chunk, done)
        stamp = _onupdate_values(info)
        for columns, group in _by_columns(merged):
            stmt = _statement(form, info, keys, columns, group, {**stamp})
            if info.soft_delete is not None and not with_deleted:
                stmt = stmt.where(info.soft_delete.is_(None))
            total += await _execute(session, stmt, group, form)
        _sync_identity_map(session, info, keys, merged, stamp, with_deleted)
        done += len(chunk)
    return total


def key_columns(info: ModelInfo, key: Sequence[Any] | str | None) -> tuple[str, ...]:
    """Attribute keys of the key columns: the primary key unless ``key`` names others."""
    if key is None:
        return info.pk_keys
    items = [key] if isinstance(key, str) else list(key)
    if not items:
        raise InvalidValueError("update_many key needs at least one column")
    out = []
    for item in items:
        name = item if isinstance(item, str) else getattr(item, "key", None)
        if name not in info.columns:
            raise InvalidValueError(
                f"update_many key {item!r} is not a column of {info.name}; "
                f"columns are {', '.join(sorted(info.columns))}"
            )
        out.append(name)
    return tuple(out)


def _merge(
    info: ModelInfo, keys: tuple[str, ...], chunk: Sequence[Any], offset: int
) -> dict[tuple[Any, ...], _Row]:
    """Check every row (naming it on error) and merge rows that share a key, in order."""
    merged: dict[tuple[Any, ...], _Row] = {}
    for i, raw in enumerate(chunk):
        index = offset + i
        row = _checked(info, keys, _bulk._row_dict(info, raw, index), index)
        identity = tuple(row.pop(k) for k in keys)
        try:
            found = merged.get(identity)
        except TypeError:
            raise InvalidValueError(f"row {index}: a key value is not hashable") from None
        if found is None:
            found = merged[identity] = _Row(identity, {})
        found.values.update(row)
        found.indexes.append(index)
    return merged


def _checked(
    info: ModelInfo, keys: tuple[str, ...], row: Mapping[str, Any], index: int
) -> dict[str, Any]:
    missing = [k for k in keys if k not in row]
    if missing:
        raise InvalidValueError(f"row {index}: missing key column(s) {', '.join(missing)}")
    if len(row) == len(keys):
        raise InvalidValueError(f"row {index}: nothing to set besides the key {', '.join(keys)}")
    try:
        return info.check_values(row, "update")
    except InvalidValueError as exc:
        raise InvalidValueError(f"row {index}: {exc}", column=exc.column, table=exc.table) from None


def _by_columns(merged: Mapping[tuple[Any, ...], _Row]) -> list[tuple[tuple[str, ...], list[_Row]]]:
    groups: dict[tuple[str, ...], list[_Row]] = {}
    for row in merged.values():
        groups.setdefault(tuple(sorted(row.values)), []).append(row)
    return list(groups.items())


def _onupdate_values(info: ModelInfo) -> dict[str, Any]:
    """One value per chunk for each Python-side ``onupdate`` column (``updated_at``)."""
    out = {}
    for key in info.columns:
        onupdate = info.column(key).onupdate
        maker = _bulk._default_maker_from(onupdate) if onupdate is not None else None
        if maker is not None:
            out[key] = maker()
    return out


# ----------------------------------------------------------------------------- statements


def _form(dialect: str) -> str:
    if dialect == "postgresql":
        return "values"
    if dialect == "mysql":
        return "union"
    return "cte" if sqlite_has_update_from() else "case"


def sqlite_has_update_from() -> bool:
    """UPDATE … FROM arrived in SQLite 3.33."""
    return sqlite3.sqlite_version_info >= (3, 33)


def _statement(
    form: str,
    info: ModelInfo,
    keys: tuple[str, ...],
    columns: tuple[str, ...],
    group: Sequence[_Row],
    stamp: dict[str, Any],
) -> Any:
    table = info.table
    names = [*keys, *columns]
    labels = [f"sqlops_{i}" for i in range(len(names))]
    types = [info.column(n).type for n in names]
    data = [(*row.key, *(row.values[c] for c in columns)) for row in group]
    sets: dict[str, Any] = {info.column(k).name: v for k, v in stamp.items() if k not in columns}
    if form == "case":
        return _case_statement(info, keys, columns, group, sets)
    if form == "union":
        selects = [
            select(
                *(
                    bindparam(None, v, type_=t).label(lb)
                    for v, t, lb in zip(row, types, labels, strict=True)
                )
            )
            for row in data
        ]
        source: Any = union_all(*selects).subquery("sqlops_rows")
    else:
        rows = values(*(column(lb, t) for lb, t in zip(labels, types, strict=True)))
        rows = rows.data(data)
        source = rows.cte("sqlops_rows") if form == "cte" else rows.alias("sqlops_rows")
    stmt = update(table).where(
        *(info.column(k) == source.c[lb] for k, lb in zip(keys, labels[: len(keys)], strict=True))
    )
    for name, label in zip(columns, labels[len(keys) :], strict=True):
        sets[info.column(name).name] = source.c[label]
    stmt = stmt.values(sets)
    return stmt.add_cte(source) if form == "cte" else stmt


def _case_statement(
    info: ModelInfo,
    keys: tuple[str, ...],
    columns: tuple[str, ...],
    group: Sequence[_Row],
    sets: dict[str, Any],
) -> Any:
    """``SET c = CASE WHEN key = … THEN … END WHERE key IN (…)``: any SQL backend."""
    table: Table = info.table

    def match(row: _Row) -> ColumnElement[bool]:
        parts = [
            info.column(k) == bindparam(None, v, type_=info.column(k).type)
            for k, v in zip(keys, row.key, strict=True)
        ]
        return parts[0] if len(parts) == 1 else and_(*parts)

    matches = [match(row) for row in group]
    for name in columns:
        col = info.column(name)
        whens = [
            (m, bindparam(None, r.values[name], type_=col.type))
            for m, r in zip(matches, group, strict=True)
        ]
        sets[col.name] = case(*whens, else_=col)
    return update(table).where(or_(*matches)).values(sets)


async def _execute(session: AsyncSession, stmt: Any, group: Sequence[_Row], form: str) -> int:
    try:
        result = await session.execute(stmt)
    except (ConstraintViolation, InvalidValueError) as exc:
        raise _blamed(exc, group) from exc.__cause__
    if form == "cte":  # sqlite3 reports no rowcount for a statement that starts with WITH
        return int((await session.execute(text("SELECT changes()"))).scalar_one())
    return int(result.rowcount)  # type: ignore[attr-defined]


def _blamed(exc: ConstraintViolation | InvalidValueError, group: Sequence[_Row]) -> Exception:
    """The same error, its message naming the input row(s) the statement carried."""
    indexes = sorted(i for row in group for i in row.indexes)
    if isinstance(exc, NotNullViolation) and exc.columns:
        nulls = [
            row
            for row in group
            if any(c in row.values and row.values[c] is None for c in exc.columns)
        ]
        indexes = sorted(i for row in nulls for i in row.indexes) or indexes
    where = f"row {indexes[0]}" if len(indexes) == 1 else f"rows {indexes[0]}-{indexes[-1]}"
    message = f"{where}: {exc}"
    if isinstance(exc, ConstraintViolation):
        return type(exc)(
            message,
            table=exc.table,
            columns=exc.columns,
            constraint=exc.constraint,
            detail=exc.detail,
        )
    return InvalidValueError(message, column=exc.column, table=exc.table)


def _sync_identity_map(
    session: AsyncSession,
    info: ModelInfo,
    keys: tuple[str, ...],
    merged: Mapping[tuple[Any, ...], _Row],
    stamp: dict[str, Any],
    with_deleted: bool,
) -> None:
    """Give instances already loaded in the session the values just written."""
    identity_map = session.sync_session.identity_map
    if not len(identity_map):
        return
    for obj in list(identity_map.values()):
        if not isinstance(obj, info.model):
            continue
        state = attributes.instance_dict(obj)
        row = merged.get(tuple(state.get(k) for k in keys))
        deleted = info.soft_delete is not None and state.get(info.soft_delete.key) is not None
        if row is None or (deleted and not with_deleted):
            continue
        for name, value in {**stamp, **row.values}.items():
            attributes.set_committed_value(obj, name, value)
