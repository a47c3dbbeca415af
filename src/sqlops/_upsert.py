"""Upserts and counters: one statement per row or chunk, never read-then-write.

``INSERT … ON CONFLICT DO UPDATE`` on PostgreSQL and SQLite, ``… ON DUPLICATE KEY UPDATE``
on MariaDB / MySQL (with the checks that make it fire on the conflict key only), and the
atomic ``UPDATE … RETURNING`` (or equivalent) of :meth:`Repository.increment`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Table,
    and_,
    case,
    func,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import attributes

from . import _constraintnames as _names
from . import _failures, _translate
from ._bulk import (
    VALUES_CHUNK,
    Layouts,
    chunks,
    refuse_column_references,
    sql_values,
    unique_keys,
)
from ._errors import InvalidValueError, NotFoundError, SqlopsError, UniqueViolation, got
from ._modelinfo import ModelInfo
from ._translate_mysql import _mysql_code

if TYPE_CHECKING:
    from ._repobase import RepositoryBase as Repository

UPSERT_CHUNK = 5_000


# ----------------------------------------------------------------------------- upsert


def _conflict_columns(info: ModelInfo, conflict: Sequence[Any] | str | None) -> list[str]:
    if conflict is None:
        return [info.column(k).name for k in info.pk_keys]
    items = [conflict] if isinstance(conflict, str) else list(conflict)
    names = []
    for item in items:
        key = item if isinstance(item, str) else getattr(item, "key", None)
        if key not in info.columns:
            raise InvalidValueError(f"conflict column {item!r} is not a column of {info.name}")
        names.append(info.column(key).name)
    if not any(set(u) == set(names) for u in unique_keys(info.table)):
        keys = "; ".join("(" + ", ".join(u) + ")" for u in unique_keys(info.table))
        raise InvalidValueError(
            f"conflict columns ({', '.join(names)}) are not a unique key of {info.table.name}; "
            f"unique keys are {keys}"
        )
    return names


def _update_columns(
    info: ModelInfo, given: Iterable[str], conflict: list[str], update_: Sequence[Any] | None
) -> list[str]:
    if update_ is None:
        names = [info.column(k).name for k in given]
        return [n for n in names if n not in conflict and n not in _pk_names(info)]
    out = []
    for item in update_:
        key = item if isinstance(item, str) else getattr(item, "key", None)
        if key not in info.columns:
            raise InvalidValueError(f"update column {item!r} is not a column of {info.name}")
        out.append(info.column(key).name)
    return out


def _pk_names(info: ModelInfo) -> set[str]:
    return {info.column(k).name for k in info.pk_keys}


def _onupdate_values(
    info: ModelInfo, updating: list[str], inserted: Callable[[str], Any]
) -> dict[str, Any]:
    """``onupdate`` columns (``updated_at``) that ON CONFLICT would otherwise leave alone.

    A column with an insert default too takes the value the INSERT computed
    (``excluded.updated_at`` / ``VALUES(updated_at)``): no extra bound parameter, which
    keeps the statement usable with executemany (asyncmy's multi-row rewrite cannot
    handle a placeholder after VALUES).
    """
    extra: dict[str, Any] = {}
    for column in info.table.columns:
        if column.onupdate is None or column.name in updating:
            continue
        if column.default is not None:
            extra[column.name] = inserted(column.name)
        elif (maker := _default_maker_from(column.onupdate)) is not None:
            extra[column.name] = maker()
    return extra


def _default_maker_from(default: Any) -> Callable[[], Any] | None:
    if getattr(default, "is_callable", False):
        return lambda: default.arg(None)
    if getattr(default, "is_scalar", False):
        return lambda: default.arg
    return None


def _by_column_name(info: ModelInfo, row: Mapping[str, Any]) -> dict[str, Any]:
    return {info.column(k).name: v for k, v in row.items()}


def upsert_statement(
    dialect: str,
    info: ModelInfo,
    rows: list[dict[str, Any]] | None,
    conflict: list[str],
    updating: list[str],
    *,
    clash_fails: bool = False,
) -> Any:
    """INSERT … ON CONFLICT / ON DUPLICATE KEY UPDATE: for ``rows``, or for executemany.

    ``clash_fails`` (MariaDB): a row that hits another unique key fails the statement
    (:func:`_clash_tripwire`) instead of being skipped.
    """
    table = info.table
    if dialect in ("postgresql", "sqlite"):
        module: Any = postgresql if dialect == "postgresql" else sqlite
        stmt = module.insert(table)
        stmt = stmt.values(rows) if rows is not None else stmt
        excluded = stmt.excluded
        sets = {c: excluded[c] for c in updating} or {conflict[0]: excluded[conflict[0]]}
        extra = _onupdate_values(info, updating, lambda c: excluded[c]) if updating else {}
        return stmt.on_conflict_do_update(index_elements=conflict, set_={**sets, **extra})
    if dialect == "mysql":
        stmt = mysql.insert(table)
        stmt = stmt.values(rows) if rows is not None else stmt
        sets = {c: stmt.inserted[c] for c in updating} or {conflict[0]: table.c[conflict[0]]}
        extra = _onupdate_values(info, updating, lambda c: stmt.inserted[c]) if updating else {}
        # ON DUPLICATE KEY fires on *any* unique key; update only the row whose conflict
        # columns match, so a clash on another key changes nothing (and is reported)
        same = and_(*(table.c[c] == stmt.inserted[c] for c in conflict))
        guarded = {c: case((same, v), else_=table.c[c]) for c, v in {**sets, **extra}.items()}
        if clash_fails:
            first, value = next(iter({**sets, **extra}.items()))
            guarded[first] = case((same, value), else_=_clash_tripwire(table.c[first]))
        return stmt.on_duplicate_key_update(guarded)
    raise SqlopsError(f"upsert is not supported on {dialect}")  # pragma: no cover


CLASH = 1242  # ER_SUBQUERY_NO_1_ROW: raised by the tripwire below


def _clash_tripwire(column: Column[Any]) -> ColumnElement[Any]:
    """An expression that fails the statement with :data:`CLASH` when it is evaluated.

    ``upsert_many`` must report a row that ON DUPLICATE KEY UPDATE matched on another
    unique key than the conflict columns, as the other backends do. Instead of a SELECT
    after each chunk to find the keys that were not written, the guard's ELSE branch runs
    a scalar subquery of two rows, which MariaDB refuses in any ``sql_mode``; CASE
    evaluates it only for such a row, and it selects the assigned column of the row: the
    CASE keeps that column's type (MariaDB's UUID would not take a string), and it cannot
    be computed ahead as a constant. The statement is then undone as a whole.
    """
    quoted = mysql.dialect().identifier_preparer.format_column(column, use_table=True)
    return literal_column(f"(SELECT {quoted} UNION ALL SELECT {quoted})")


async def upsert_one(
    repo: Repository[Any],
    session: AsyncSession,
    values: dict[str, Any],
    conflict: Sequence[Any] | str | None,
    update_: Sequence[Any] | None,
) -> Any:
    info = repo.info
    _one_table(info)
    values = info.check_values(values, "upsert")
    refuse_column_references(info, (values,))
    names = _conflict_columns(info, conflict)
    missing = [n for n in names if n not in {info.column(k).name for k in values}]
    if missing:
        raise InvalidValueError(f"upsert values must include the conflict column(s) {missing}")
    row = _with_defaults(info, _by_column_name(info, values))
    identity = _identity(info)
    if identity is not None:
        row.setdefault(info.column(identity[0]).name, identity[1])
    updating = _update_columns(info, values, names, update_)
    stmt = upsert_statement(repo.dialect, info, [row], names, updating)
    bind = session.sync_session.get_bind  # a caller's own session names columns too
    if repo.dialect == "mysql":
        with _translate.naming_inline(stmt, bind):
            await session.execute(stmt)
        lookup = select(info.model).where(*(info.table.c[n] == row[n] for n in names))
        # A locking read: REPEATABLE READ's snapshot may predate a row another transaction
        # committed and our no-op ON DUPLICATE KEY UPDATE left unchanged (we hold its lock).
        lookup = lookup.with_for_update()
        options = {"populate_existing": True}
        found = (await session.scalars(lookup, execution_options=options)).one_or_none()
        if found is None:  # the row clashed on another unique key: nothing was written
            err = await _other_key_violation(session, info, row, names)
            _failures.note(session, err, _failures.innermost(session), from_database=False)
            raise err
        return found
    orm_stmt = select(info.model).from_statement(stmt.returning(*info.table.columns))
    with _translate.naming_inline(stmt, bind):
        result = await session.scalars(orm_stmt, execution_options={"populate_existing": True})
    return result.one()


async def _other_key_violation(
    session: AsyncSession, info: ModelInfo, row: dict[str, Any], conflict: list[str]
) -> UniqueViolation:
    """The unique key (other than ``conflict``) on which MariaDB found ``row`` a duplicate."""
    table = info.table
    for key in unique_keys(table):
        if set(key) == set(conflict) or not set(key) <= set(row):
            continue
        probe = select(1).select_from(table).where(*(table.c[c] == row[c] for c in key))
        if (await session.execute(probe.limit(1))).first() is not None:
            known = _names.for_columns([table], table.name, None, key, "unique")
            name = _names.server_name(known, "mysql") if known else None
            return UniqueViolation(table=table.name, columns=key, constraint=name)
    return UniqueViolation(table=table.name, detail="duplicate key on another unique key")


def _one_table(info: ModelInfo) -> None:
    """Refuse an upsert on a model whose rows span tables: ON CONFLICT is per table."""
    if info.multi_table:
        tables = ", ".join(t.name for t in info.mapper.tables)
        raise TypeError(
            f"upsert needs a model stored in one table; {info.name} spans {tables} "
            "(joined-table inheritance): use get_or_create() or update() instead"
        )


def _identity(info: ModelInfo) -> tuple[str, Any] | None:
    """(discriminator attribute key, value) of a single-table inheritance class, or None."""
    mapper = info.mapper
    if mapper.polymorphic_on is None or mapper.polymorphic_identity is None:
        return None
    column = mapper.polymorphic_on
    if not isinstance(column, Column):
        return None
    return mapper.get_property_by_column(column).key, mapper.polymorphic_identity


def _with_defaults(info: ModelInfo, row: dict[str, Any]) -> dict[str, Any]:
    """Fill client-side column defaults (a multi-row VALUES needs every key in every row)."""
    for column in info.table.columns:
        if column.name not in row and column.default is not None:
            maker = _default_maker_from(column.default)
            if maker is not None:
                row[column.name] = maker()
    return row


async def upsert_many(
    repo: Repository[Any],
    session: AsyncSession,
    rows: Iterable[Mapping[str, Any]],
    conflict: Sequence[Any] | str | None,
    update_: Sequence[Any] | None,
    chunk_size: int | None,
) -> int:
    """One prepared INSERT … ON CONFLICT per key layout, sent with executemany.

    The statement is compiled once and the driver pipelines the rows (asyncpg's
    ``executemany``; asyncmy rewrites it into multi-row VALUES). Within a chunk, rows
    with the same conflict key collapse to the last one.
    """
    info = repo.info
    _one_table(info)
    names = _conflict_columns(info, conflict)
    identity = _identity(info)
    if identity is not None:  # single-table inheritance: the rows are of this class
        key, value = identity
        rows = ({key: value, **row} for row in rows)
    key_of = [info.mapper.get_property_by_column(info.table.c[n]).key for n in names]
    size = chunk_size or UPSERT_CHUNK
    layouts = Layouts(info)
    statements: dict[tuple[str, ...], Any] = {}
    total = 0
    conflict_key = operator.itemgetter(*key_of)  # one key: the bare value, else a tuple
    for offset, chunk in enumerate(chunks(rows, size)):
        deduped: dict[Any, Mapping[str, Any]] = {}
        runs = layouts.runs(chunk, offset * size)
        for keys, run in runs:
            if any(k not in keys for k in key_of):
                raise InvalidValueError(f"upsert rows must include the conflict column(s) {names}")
            try:
                deduped.update(zip(map(conflict_key, run), run, strict=True))
            except TypeError:  # a dict or a list as a conflict key: unhashable
                raise _unhashable_key(info, key_of, run) from None
        if len(deduped) < len(chunk):  # a key came twice: the last row of each, in order
            runs = layouts.runs(list(deduped.values()), offset * size)
        for keys, run in runs:
            if sql_values(run):  # func.now() and the like: rendered into one multi-row VALUES
                refuse_column_references(info, run)
                updating = _update_columns(info, keys, names, update_)
                values = [_with_defaults(info, _by_column_name(info, row)) for row in run]
                stmt, params = (
                    upsert_statement(repo.dialect, info, values, names, updating, clash_fails=True),
                    None,
                )
            else:
                stmt, params = statements.get(keys), layouts.by_column_key(keys, run)
                if stmt is None:
                    updating = _update_columns(info, keys, names, update_)
                    stmt = statements[keys] = upsert_statement(
                        repo.dialect, info, None, names, updating, clash_fails=True
                    )
            try:
                await session.execute(stmt, params)
            except DBAPIError as exc:
                if repo.dialect != "mysql" or exc.orig is None or _mysql_code(exc.orig) != CLASH:
                    raise
                keyed = deduped if len(key_of) > 1 else {(k,): r for k, r in deduped.items()}
                await _report_clash(session, info, names, key_of, keyed, exc)
        if repo.session is not None:  # the caller's session may hold some of these rows
            await _refresh_loaded(session, info, names, key_of, deduped)
        total += len(deduped)
    return total


async def _refresh_loaded(
    session: AsyncSession,
    info: ModelInfo,
    names: list[str],
    key_of: list[str],
    written: Mapping[Any, Any],
) -> None:
    """Reload the instances the session already holds of rows just upserted.

    The statement changed them in the database only: without this a later ``get`` or
    ``list`` in the session returned the old values from the identity map. What the
    database computed (``excluded`` values, ``updated_at``, SQL expressions) is only
    known by reading it back: one SELECT of the loaded rows, when there are any.
    """
    identity_map = session.sync_session.identity_map
    if not len(identity_map):
        return
    loaded = []
    for obj in list(identity_map.values()):
        if isinstance(obj, info.model):
            state = attributes.instance_dict(obj)
            key = tuple(state.get(k) for k in key_of)
            if (key if len(key_of) > 1 else key[0]) in written:
                loaded.append(key)
    if not loaded:
        return
    columns = [info.table.c[n] for n in names]
    match = (
        columns[0].in_([k[0] for k in loaded])
        if len(columns) == 1
        else tuple_(*columns).in_(loaded)
    )
    reload = select(info.model).where(match).execution_options(populate_existing=True)
    await session.execute(reload)


def _unhashable_key(
    info: ModelInfo, key_of: list[str], rows: list[Mapping[str, Any]]
) -> InvalidValueError:
    """The error for a conflict column given a value that cannot be a key (a dict, a list)."""
    table = info.table.name
    for row in rows:
        for key in key_of:
            try:
                hash(row[key])
            except TypeError:
                column = info.column(key).name
                return InvalidValueError(
                    f"{table}.{column}: a conflict column's value must be a single value "
                    + got(type(row[key]).__name__),
                    table=table,
                    column=column,
                )
    return InvalidValueError(f"{table}: a conflict key could not be compared", table=table)


async def _report_clash(
    session: AsyncSession,
    info: ModelInfo,
    names: list[str],
    key_of: list[str],
    rows: dict[tuple[Any, ...], Mapping[str, Any]],
    cause: DBAPIError,
) -> None:
    """Raise the UniqueViolation of a row that MariaDB matched on another unique key.

    The tripwire (:func:`_clash_tripwire`) undid the statement; of the rows whose conflict
    key is not in the table, the first that another unique key already holds is named.
    """
    columns = [info.table.c[n] for n in names]
    found_keys: set[tuple[Any, ...]] = set()
    keys = list(rows)
    for start in range(0, len(keys), VALUES_CHUNK):
        part = keys[start : start + VALUES_CHUNK]
        where = (
            columns[0].in_([k[0] for k in part])
            if len(columns) == 1
            else (tuple_(*columns).in_(part))
        )
        found_keys.update(tuple(r) for r in (await session.execute(select(*columns).where(where))))
    err = UniqueViolation(table=info.table.name, detail="duplicate key on another unique key")
    for key, row in rows.items():
        if key not in found_keys:
            missing = _with_defaults(info, _by_column_name(info, row))
            err = await _other_key_violation(session, info, missing, names)
            if err.columns:
                break
    _failures.note(session, err, _failures.innermost(session), from_database=False)
    raise err from cause


# ----------------------------------------------------------------------------- increment


async def increment(
    repo: Repository[Any],
    session: AsyncSession,
    where: list[ColumnElement[bool]],
    key: str,
    by: int | float,
    pk: Any,
) -> int | float:
    info = repo.info
    column = info.columns[key]
    table = info.column(key).table  # joined inheritance: the table that holds the column
    if info.multi_table and isinstance(table, Table):
        where = [
            c == v for c, v in zip(table.primary_key.columns, repo._pk_values(pk), strict=True)
        ]
    else:
        table = info.table
    where = [*where, *_single_table_criterion(info)]
    counter = func.coalesce(column, 0) + by  # a NULL counter counts from 0
    stmt = update(table).where(*where).values({info.column(key).name: counter})
    if info.soft_delete is not None:
        stmt = stmt.where(info.soft_delete.is_(None))
    if repo.dialect == "mysql":
        result = await session.execute(stmt)
        if not result.rowcount:  # type: ignore[attr-defined]
            raise NotFoundError(info.model, pk)
        value = (await session.execute(select(column).where(*where))).scalar_one()
    else:
        value = (await session.execute(stmt.returning(column))).scalar_one_or_none()
        if value is None:
            raise NotFoundError(info.model, pk)
    _sync_identity(session, info, pk, key, value, repo)
    return value  # type: ignore[no-any-return]


def _single_table_criterion(info: ModelInfo) -> list[ColumnElement[bool]]:
    """A single-table subclass's own rows: its discriminator values, not its siblings'."""
    mapper = info.mapper
    if not (mapper.single and mapper.inherits is not None and mapper.polymorphic_on is not None):
        return []
    identities = [m.polymorphic_identity for m in mapper.self_and_descendants]
    return [mapper.polymorphic_on.in_(identities)]


def _sync_identity(
    session: AsyncSession, info: ModelInfo, pk: Any, key: str, value: Any, repo: Repository[Any]
) -> None:
    """Keep an already-loaded instance in step with the counter we just changed."""
    identity = session.sync_session.identity_map.get(
        info.mapper.identity_key_from_primary_key(repo._pk_values(pk))
    )
    if identity is not None:
        attributes.set_committed_value(identity, key, value)
