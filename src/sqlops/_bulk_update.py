"""update_many: different values per row, one UPDATE per chunk, the backend's fastest form.

* PostgreSQL: ``UPDATE t SET … FROM (VALUES …) AS v (…) WHERE t.key = v.key``; a VALUES
  column of untyped parameters is ``text`` there, so cells of the types text does not turn
  into by assignment (native enums, ``INET``, ``MACADDR``, a user's type) carry a CAST.
* SQLite 3.33+: the same; older SQLite gets ``SET c = CASE … END``.
* MariaDB / MySQL: a multi-table ``UPDATE t, (SELECT … UNION ALL SELECT …) AS v SET …``.
  Never ``INSERT … ON DUPLICATE KEY UPDATE``: it would insert a row whose key is missing.

Within a chunk, rows with the same key merge in order (later values win, as they would
one UPDATE after another); merged rows are grouped by the set of columns they set, so rows
may set different columns: one statement per chunk and column set.
"""

from __future__ import annotations

import enum
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ARRAY,
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    Integer,
    Interval,
    LargeBinary,
    Numeric,
    String,
    Time,
    TypeDecorator,
    Uuid,
    and_,
    bindparam,
    case,
    column,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import attributes

from . import _bulk, _joined, _translate_common, _upsert
from ._errors import ConstraintViolation, InvalidValueError, NotNullViolation, UniqueViolation
from ._modelinfo import ModelInfo

if TYPE_CHECKING:
    from ._repobase import RepositoryBase as Repository

UPDATE_CHUNK = 1_000
_MAX_PARAMS = 30_000  # under PostgreSQL's 32,767 and SQLite's 32,766 bound parameters
_OLD_SQLITE_PARAMS = 999  # SQLite before 3.32


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
    await session.flush()  # rows added or changed earlier in the session come first
    total = done = 0
    for chunk in _bulk.chunks(rows, size):
        merged = _merge(info, keys, chunk, done)
        stamp = _onupdate_values(info)
        if info.multi_table:  # columns of several tables (joined inheritance): row by row
            for row in merged.values():
                total += await _update_joined(repo, session, keys, row, stamp, with_deleted)
            done += len(chunk)
            continue
        expressive = [row for row in merged.values() if _bulk.sql_values([row.values])]
        for row in expressive:  # func.now() and the like: rendered, so one UPDATE per row
            del merged[row.key]
            total += await _update_rendered(repo, session, keys, row, stamp, with_deleted)
        for columns, group in _by_columns(merged):
            stamped = tuple(k for k in stamp if k not in columns)
            for piece in _pieces(group, len(keys) + len(columns), form):
                shape = (form, info.model, keys, columns, stamped, len(piece), not with_deleted)
                params = _parameters(shape, piece, stamp)
                total += await _execute(session, _statement(shape, info), params, piece, form)
        _sync_identity_map(session, info, keys, merged, stamp, with_deleted)
        done += len(chunk)
    return total


async def _update_rendered(
    repo: Repository[Any],
    session: AsyncSession,
    keys: tuple[str, ...],
    row: _Row,
    stamp: Mapping[str, Any],
    with_deleted: bool,
) -> int:
    """One row whose values hold SQL expressions, as ``update_where`` writes it: an ORM
    UPDATE that keeps instances loaded in the session in step."""
    info = repo.info
    stmt = update(info.model).where(*_row_where(info, keys, row, with_deleted))
    stmt = stmt.values({**stamp, **row.values})
    options = {"synchronize_session": "auto" if repo.session is not None else False}
    return await _execute(session, stmt, {}, [row], "rendered", options)


async def _update_joined(
    repo: Repository[Any],
    session: AsyncSession,
    keys: tuple[str, ...],
    row: _Row,
    stamp: Mapping[str, Any],
    with_deleted: bool,
) -> int:
    """One row of a model spread over several tables, as ``update_where`` writes it: an
    UPDATE per table. Instances loaded in the session are kept in step; a value the
    database computed (a SQL expression) is read back for them."""
    info = repo.info
    where = _row_where(info, keys, row, with_deleted)
    values = {**stamp, **row.values}
    try:
        count = await _joined.update_where(repo, session, where, values)
    except (ConstraintViolation, InvalidValueError) as exc:
        raise _blamed(exc, [row]) from exc.__cause__
    computed = [k for k, v in values.items() if _bulk.sql_values([{k: v}])]
    if computed and repo.session is not None:
        for obj in _joined._loaded(
            repo, session, await _joined.matching_keys(repo, session, where)
        ):
            await session.refresh(obj, attribute_names=computed)
    return count


def _row_where(info: ModelInfo, keys: tuple[str, ...], row: _Row, with_deleted: bool) -> list[Any]:
    """The WHERE of one row's own UPDATE: its key, and not soft-deleted unless asked."""
    where = [info.column(k) == v for k, v in zip(keys, row.key, strict=True)]
    if not with_deleted and info.soft_delete is not None:
        where.append(info.soft_delete.is_(None))
    return where


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
    layouts: dict[tuple[str, ...], list[tuple[str, Any]]] = {}
    for i, raw in enumerate(chunk):
        index = offset + i
        row = dict(_bulk._row_dict(info, raw, index))
        layout = tuple(row)
        checks = layouts.get(layout)
        if checks is None:
            checks = layouts[layout] = _layout_checks(info, keys, layout, index)
        for name, check in checks:  # only Enum / number columns: usually none or the key
            try:
                row[name] = check(row[name])
            except InvalidValueError as exc:
                raise InvalidValueError(
                    f"row {index}: {exc}", column=exc.column, table=exc.table
                ) from None
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


def _layout_checks(
    info: ModelInfo, keys: tuple[str, ...], layout: tuple[str, ...], index: int
) -> list[tuple[str, Any]]:
    """Validate one key layout (once per chunk, not per row); its value checks."""
    missing = [k for k in keys if k not in layout]
    if missing:
        raise InvalidValueError(f"row {index}: missing key column(s) {', '.join(missing)}")
    if len(layout) == len(keys):
        raise InvalidValueError(f"row {index}: nothing to set besides the key {', '.join(keys)}")
    unknown = [k for k in layout if k not in info.columns]
    if unknown:
        raise InvalidValueError(
            f"row {index}: cannot update {info.not_columns(unknown)}: {info.name} has no "
            f"such column; columns are {', '.join(sorted(info.columns))}"
        )
    return [(k, info.value_checks[k]) for k in layout if k in info.value_checks]


def _by_columns(merged: Mapping[tuple[Any, ...], _Row]) -> list[tuple[tuple[str, ...], list[_Row]]]:
    groups: dict[tuple[str, ...], list[_Row]] = {}
    for row in merged.values():
        groups.setdefault(tuple(sorted(row.values)), []).append(row)
    return list(groups.items())


def _pieces(group: list[_Row], width: int, form: str) -> list[list[_Row]]:
    """Split a group into statements of at most ``UPDATE_CHUNK`` rows and of no more
    parameters than the backend takes (bigger statements only cost more to compile)."""
    limit = _OLD_SQLITE_PARAMS if form == "case" else _MAX_PARAMS
    rows = max(1, min(UPDATE_CHUNK, (limit - 8) // width))  # a few left for onupdate values
    return [group[i : i + rows] for i in range(0, len(group), rows)]


def _onupdate_values(info: ModelInfo) -> dict[str, Any]:
    """One value per chunk for each Python-side ``onupdate`` column (``updated_at``)."""
    out = {}
    for key in info.columns:
        onupdate = info.column(key).onupdate
        maker = _upsert._default_maker_from(onupdate) if onupdate is not None else None
        if maker is not None:
            out[key] = maker()
    return out


# ----------------------------------------------------------------------------- statements


def _form(dialect: str) -> str:
    if dialect == "postgresql":
        return "pg-values"
    if dialect == "mysql":
        return "union"
    return "values" if sqlite_has_update_from() else "case"


def sqlite_has_update_from() -> bool:
    """UPDATE … FROM arrived in SQLite 3.33."""
    return sqlite3.sqlite_version_info >= (3, 33)


Shape = tuple[str, type[Any], tuple[str, ...], tuple[str, ...], tuple[str, ...], int, bool]
_shapes: dict[Shape, Any] = {}
_MAX_SHAPES = 128


def _statement(shape: Shape, info: ModelInfo) -> Any:
    """The UPDATE for ``shape``, built once: parameters are named, values come at execute.

    Building (and compiling) a 1,000-row VALUES with its values inside cost more than the
    database spent running it; with named parameters SQLAlchemy's compiled cache and
    asyncpg's prepared statements are reused chunk after chunk.
    """
    found = _shapes.get(shape)
    if found is None:
        if len(_shapes) >= _MAX_SHAPES:
            _shapes.clear()
        found = _shapes[shape] = _build(shape, info)
    return found


def _build(shape: Shape, info: ModelInfo) -> Any:
    form, _, keys, columns, stamped, count, soft = shape
    types = [info.column(n).type for n in (*keys, *columns)]
    sets: dict[str, Any] = {
        info.column(k).name: bindparam(f"sqlops_s_{k}", type_=info.column(k).type) for k in stamped
    }
    grid = [
        [bindparam(f"sqlops_{r}_{c}", type_=t) for c, t in enumerate(types)] for r in range(count)
    ]
    build = _case_statement if form == "case" else _from_statement
    stmt = build(form, info, keys, columns, grid, sets)
    return stmt.where(info.soft_delete.is_(None)) if soft and info.soft_delete is not None else stmt


def _from_statement(
    form: str,
    info: ModelInfo,
    keys: tuple[str, ...],
    columns: tuple[str, ...],
    grid: list[list[Any]],
    sets: dict[str, Any],
) -> Any:
    """``UPDATE t SET … FROM <rows> WHERE t.key = rows.key`` (MariaDB: ``UPDATE t, <rows>``)."""
    if form == "union":
        labels = [f"sqlops_{i}" for i in range(len(grid[0]))]
        selects = [
            select(*(p.label(lb) for p, lb in zip(row, labels, strict=True))) for row in grid
        ]
        source: Any = union_all(*selects).subquery("sqlops_rows")
    else:
        # VALUES names its columns column1, column2, … on PostgreSQL and SQLite. Written as
        # text: SQLAlchemy's values() construct is never cached, so a 1,000-row chunk was
        # compiled anew each time, which took longer than the UPDATE itself.
        labels = [f"column{i + 1}" for i in range(len(grid[0]))]
        casts = _pg_casts(grid[0]) if form == "pg-values" else [None] * len(grid[0])
        tuples = ", ".join(
            "(" + ", ".join(_cell(p.key, cast) for p, cast in zip(row, casts, strict=True)) + ")"
            for row in grid
        )
        rows = text(f"VALUES {tuples}").bindparams(*(p for row in grid for p in row))
        typed = rows.columns(*(column(lb, p.type) for lb, p in zip(labels, grid[0], strict=True)))
        source = typed.subquery("sqlops_rows")
    width = len(keys)
    stmt = update(info.table).where(
        *(info.column(k) == source.c[lb] for k, lb in zip(keys, labels[:width], strict=True))
    )
    for name, label in zip(columns, labels[width:], strict=True):
        sets[info.column(name).name] = source.c[label]
    return stmt.values(sets)


_ASSIGNED_FROM_TEXT = (String, ARRAY)  # text assigns to these (an Enum is a String, checked)
_TYPED_BY_DRIVERS = (
    Integer, Numeric, Float, Boolean, Date, DateTime, Time, Interval, Uuid, LargeBinary, JSON
)  # fmt: skip


def _pg_casts(params: Sequence[Any]) -> list[str | None]:
    """Per VALUES column, the PostgreSQL type its cells are cast to, or None for none.

    Not for strings: ``CAST(x AS VARCHAR(5))`` would truncate a value that assignment
    refuses as too long. Not for the types the drivers send typed.
    """
    out: list[str | None] = []
    for param in params:
        base = param.type
        while isinstance(base, TypeDecorator):
            base = base.impl_instance
        needs = (isinstance(base, Enum) and base.native_enum) or not isinstance(
            base, (*_ASSIGNED_FROM_TEXT, *_TYPED_BY_DRIVERS)
        )
        out.append(base.compile(dialect=_PG) if needs else None)
    return out


_PG: Dialect = postgresql.dialect()  # type: ignore[no-untyped-call]


def _cell(key: str, cast: str | None) -> str:
    return f":{key}" if cast is None else f"CAST(:{key} AS {cast})"


def _case_statement(
    form: str,
    info: ModelInfo,
    keys: tuple[str, ...],
    columns: tuple[str, ...],
    grid: list[list[Any]],
    sets: dict[str, Any],
) -> Any:
    """``SET c = CASE WHEN key = … THEN … END WHERE key = … OR …``: any SQL backend."""
    matches = []
    for row in grid:
        parts = [info.column(k) == p for k, p in zip(keys, row, strict=False)]
        matches.append(parts[0] if len(parts) == 1 else and_(*parts))
    for offset, name in enumerate(columns, start=len(keys)):
        col = info.column(name)
        whens = [(m, row[offset]) for m, row in zip(matches, grid, strict=True)]
        sets[col.name] = case(*whens, else_=col)
    return update(info.table).where(or_(*matches)).values(sets)


def _parameters(shape: Shape, group: Sequence[_Row], stamp: Mapping[str, Any]) -> dict[str, Any]:
    columns = shape[3]
    params = {f"sqlops_s_{k}": stamp[k] for k in shape[4]}
    for r, row in enumerate(group):
        for c, value in enumerate((*row.key, *(row.values[name] for name in columns))):
            params[f"sqlops_{r}_{c}"] = value
    return params


async def _execute(
    session: AsyncSession,
    stmt: Any,
    params: dict[str, Any],
    group: Sequence[_Row],
    form: str,
    options: Mapping[str, Any] | None = None,
) -> int:
    try:
        result = await session.execute(stmt, params, execution_options=options or {})
    except (ConstraintViolation, InvalidValueError) as exc:
        raise _blamed(exc, group) from exc.__cause__
    return int(result.rowcount)  # type: ignore[attr-defined]


def _blamed(exc: ConstraintViolation | InvalidValueError, group: Sequence[_Row]) -> Exception:
    """The same error, its message naming the input row(s) the statement carried."""
    culprits = _culprits(exc, group)
    indexes = sorted(i for row in (culprits or group) for i in row.indexes)
    if len(indexes) == 1:
        where = f"row {indexes[0]}"
    elif culprits:
        where = "rows " + ", ".join(map(str, indexes))
    else:
        where = f"rows {indexes[0]}-{indexes[-1]}"
    message = f"{where}: {exc}"
    column = exc.column if isinstance(exc, InvalidValueError) else None
    if isinstance(exc, InvalidValueError) and column is None:
        column = _refused_column(exc, culprits or group)
        if column is not None and exc.table is not None:  # as _invalid_value words it
            message = f"{where}: {exc.table}.{column}: {str(exc).removeprefix('invalid value: ')}"
    if isinstance(exc, ConstraintViolation):
        return type(exc)(
            message,
            table=exc.table,
            columns=exc.columns,
            constraint=exc.constraint,
            detail=exc.detail,
        )
    return InvalidValueError(message, column=column, table=exc.table)


def _refused_column(exc: InvalidValueError, group: Sequence[_Row]) -> str | None:
    """The one column whose value in ``group`` is the one PostgreSQL quoted, if any."""
    cause = exc.__cause__
    shown = _translate_common.quoted_value(getattr(cause, "orig", None) or cause)
    if shown is None:
        return None
    found = {k for row in group for k, v in row.values.items() if _shown(v) == shown}
    return found.pop() if len(found) == 1 else None


_PG_DUPLICATE = re.compile(r"^Key \((?P<columns>.+?)\)=\((?P<value>.*)\) already exists", re.S)
_MYSQL_DUPLICATE = re.compile(r"^Duplicate entry '(?P<value>.*)' for key", re.S)


def _culprits(exc: Exception, group: Sequence[_Row]) -> list[_Row]:
    """The rows that caused ``exc``, when the driver's error tells (never put in messages).

    A NOT NULL violation: the rows setting None there. A unique violation: the rows whose
    new value is the duplicate PostgreSQL's detail or MariaDB's message names.
    """
    if isinstance(exc, NotNullViolation) and exc.columns:
        return [r for r in group if any(r.values.get(c, 0) is None for c in exc.columns)]
    if isinstance(exc, InvalidValueError):
        shown = _translate_common.quoted_value(getattr(exc.__cause__, "orig", exc.__cause__))
        return [r for r in group if any(_shown(v) == shown for v in r.values.values())]
    if not isinstance(exc, UniqueViolation):
        return []
    value = _duplicate_value(exc)
    if value is None:
        return []
    return [r for r in group if any(_shown(v) == value for v in r.values.values())]


def _duplicate_value(exc: BaseException) -> str | None:
    """The duplicate value in the driver's error, wherever SQLAlchemy put the driver's error."""
    seen: list[BaseException | None] = [exc.__cause__]
    while seen:
        err = seen.pop()
        if err is None:
            continue
        diag = getattr(err, "diag", None)  # psycopg keeps the detail there
        detail = getattr(err, "detail", None) or getattr(diag, "message_detail", None)
        found = _PG_DUPLICATE.match(str(detail or ""))
        args: tuple[Any, ...] = getattr(err, "args", ())
        if found is None and len(args) > 1 and isinstance(args[0], int):
            found = _MYSQL_DUPLICATE.match(str(args[1]))
        if found is not None:
            return found["value"]
        seen += [getattr(err, "orig", None), err.__cause__]
        if len(seen) > 8:
            break
    return None


def _shown(value: Any) -> str:
    return value.value if isinstance(value, enum.Enum) else str(value)


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
