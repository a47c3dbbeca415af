"""Bulk writes per dialect: COPY, multi-row VALUES, ON CONFLICT, ON DUPLICATE KEY UPDATE.

PostgreSQL gets ``COPY`` (asyncpg ``copy_records_to_table``) when no RETURNING is needed:
the fastest way in. Elsewhere rows go in as executemany / multi-row VALUES. Upserts are
always one statement per chunk, never read-then-write.
"""

from __future__ import annotations

import hashlib
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Table,
    UniqueConstraint,
    and_,
    case,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import attributes

from . import _constraintnames as _names
from . import _failures, _translate
from ._errors import InvalidValueError, NotFoundError, SqlopsError, UniqueViolation
from ._modelinfo import ModelInfo

if TYPE_CHECKING:
    from ._repobase import RepositoryBase as Repository

COPY_CHUNK = 10_000
VALUES_CHUNK = 1_000
UPSERT_CHUNK = 5_000
_MAX_PARAMS = 30_000


# ----------------------------------------------------------------------------- helpers


def chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Yield lists of at most ``size`` items, consuming ``rows`` lazily."""
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _row_dict(info: ModelInfo, row: Any, index: int) -> Mapping[str, Any]:
    """A mapping row as given, or a model instance's column values."""
    if isinstance(row, Mapping):
        return row
    if isinstance(row, info.model):
        state = attributes.instance_dict(row)
        return {k: state[k] for k in info.columns if k in state}
    raise InvalidValueError(
        f"row {index}: expected a mapping or a {info.name}, got {type(row).__name__}",
        table=info.table.name,
    )


Run = tuple[tuple[str, ...], list[Mapping[str, Any]]]


class Layouts:
    """Group rows into runs of one key layout, checking each layout once, not each row.

    A million rows from a generator usually share one layout; validating it per row was
    most of the client-side cost of a bulk insert.
    """

    def __init__(self, info: ModelInfo) -> None:
        self.info = info
        self._valid: dict[tuple[str, ...], list[tuple[str, Callable[[Any], Any]]]] = {}

    def runs(self, chunk: Sequence[Any], offset: int) -> list[Run]:
        """Consecutive rows sharing one key layout (order kept), as mappings."""
        out: list[Run] = []
        current: tuple[str, ...] | None = None
        rows: list[Mapping[str, Any]] = []
        checks: list[tuple[str, Callable[[Any], Any]]] = []
        for i, row in enumerate(chunk):
            mapping = _row_dict(self.info, row, offset + i)
            keys = tuple(mapping)
            if keys != current:
                known = self._valid.get(keys)
                checks = known if known is not None else self._check(keys, offset + i)
                current, rows = keys, []
                out.append((keys, rows))
            for key, check in checks:  # only Enum / integer columns: usually id alone
                try:
                    check(mapping[key])
                except InvalidValueError as exc:
                    raise InvalidValueError(
                        f"row {offset + i}: {exc}", table=exc.table, column=exc.column
                    ) from None
            rows.append(mapping)
        return out

    def _check(self, keys: tuple[str, ...], index: int) -> list[tuple[str, Callable[[Any], Any]]]:
        unknown = [k for k in keys if k not in self.info.columns]
        if unknown:
            raise InvalidValueError(
                f"row {index}: {self.info.name} has no column {', '.join(map(repr, unknown))}; "
                f"columns are {', '.join(sorted(self.info.columns))}",
                table=self.info.table.name,
                column=unknown[0] if len(unknown) == 1 else None,
            )
        checks = [(k, self.info.value_checks[k]) for k in keys if k in self.info.value_checks]
        self._valid[keys] = checks
        return checks

    def by_column_key(self, keys: tuple[str, ...], rows: list[Mapping[str, Any]]) -> list[Any]:
        """Rows keyed by table column keys (the same as attribute keys, usually)."""
        column_keys = [self.info.column(k).key for k in keys]
        if list(keys) == column_keys:
            return rows
        return [dict(zip(column_keys, (r[k] for k in keys), strict=True)) for r in rows]


def covers_unique(info: ModelInfo, lookup: Mapping[str, Any]) -> bool:
    """Whether the lookup columns include a whole unique key (so a race ends in a violation)."""
    given = {info.column(k).name for k in lookup}
    return any(set(key) <= given for key in unique_keys(info.table))


def unique_keys(table: Table) -> list[tuple[str, ...]]:
    """Column-name tuples of the primary key, unique constraints and unique indexes."""
    keys = [tuple(c.name for c in table.primary_key.columns)]
    keys += [
        tuple(c.name for c in u.columns)
        for u in table.constraints
        if isinstance(u, UniqueConstraint)
    ]
    keys += [tuple(c.name for c in i.columns) for i in table.indexes if i.unique]
    keys += [(c.name,) for c in table.columns if c.unique]
    return [k for k in dict.fromkeys(keys) if k]


async def lock_lookup(session: AsyncSession, repo: Repository[Any], lookup: dict[str, Any]) -> None:
    """Serialize get-or-create callers of one lookup that no unique key protects."""
    if repo.dialect != "postgresql":
        return  # SQLite: BEGIN IMMEDIATE already serializes writers
    material = repr((repo.info.table.name, sorted((k, repr(v)) for k, v in lookup.items())))
    digest = hashlib.blake2b(material.encode(), digest_size=8).digest()
    key = int.from_bytes(digest, "big", signed=True)
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


# ----------------------------------------------------------------------------- create_many


async def create_many(
    repo: Repository[Any],
    session: AsyncSession,
    rows: Iterable[Any],
    *,
    returning: bool,
    chunk_size: int | None,
    progress: Callable[[int], Any] | None,
) -> int | list[Any]:
    info = repo.info
    use_copy = (
        repo.dialect == "postgresql"
        and not returning
        and not info.inherits  # several tables, or a discriminator: the ORM's bulk insert
        and _copy_possible(info)
        and not _observed(session)  # COPY is invisible to statement listeners
    )
    size = chunk_size or (COPY_CHUNK if use_copy else _values_chunk(info))
    if size < 1:
        raise ValueError("chunk_size must be >= 1")
    layouts = Layouts(info)
    done = 0
    created: list[Any] = []
    for chunk in chunks(rows, size):
        if returning:
            created += await _insert_returning(session, layouts, chunk, done)
        elif use_copy:
            await _copy(session, info, layouts.runs(chunk, done))
        else:
            target = info.model if info.inherits else info.table
            for keys, run in layouts.runs(chunk, done):
                rows_ = run if info.inherits else layouts.by_column_key(keys, run)
                await session.execute(insert(target), rows_)
        done += len(chunk)
        if progress is not None:
            progress(done)
    return created if returning else done


def _observed(session: AsyncSession) -> bool:
    """Whether the session's engine has statement listeners or echo (see Database)."""
    bind = session.sync_session.bind
    engine = getattr(bind, "engine", None)
    if engine is None:
        return False
    dispatch = engine.dispatch
    return bool(engine.echo or dispatch.before_cursor_execute or dispatch.after_cursor_execute)


def _values_chunk(info: ModelInfo) -> int:
    return max(1, min(VALUES_CHUNK, _MAX_PARAMS // max(1, len(info.columns))))


async def _insert_returning(
    session: AsyncSession, layouts: Layouts, chunk: list[Any], offset: int
) -> list[Any]:
    info = layouts.info
    if all(isinstance(row, info.model) for row in chunk):
        session.add_all(chunk)
        await session.flush()
        return chunk
    out: list[Any] = []
    for _, run in layouts.runs(chunk, offset):
        stmt = insert(info.model).returning(info.model, sort_by_parameter_order=True)
        out += list((await session.scalars(stmt, run)).all())
    return out


def _copy_possible(info: ModelInfo) -> bool:
    """COPY skips SQLAlchemy, so every client-side default must be one we can compute."""
    for column in info.table.columns:
        default = column.default
        if default is None:
            continue
        if default.is_sequence or default.is_clause_element:
            return False
    return True


async def _copy(session: AsyncSession, info: ModelInfo, runs: list[Run]) -> None:
    """COPY the rows into the table in the session's transaction (asyncpg)."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    if not driver.is_in_transaction():
        await conn.exec_driver_sql("SELECT 1")  # start the adapter's transaction first
    table = info.table
    before = _failures.innermost(session)
    for keys, run in runs:
        columns, records = _copy_records(info, keys, run, conn.dialect)
        try:
            await driver.copy_records_to_table(
                table.name, records=records, columns=columns, schema_name=table.schema
            )
        except Exception as exc:
            # the rows as parameters: the translator finds the column whose value broke
            err = _translate.translate(exc, _translate._Context(table=table, params=run))
            if err is None:
                raise
            err.__cause__ = exc
            _failures.note(session, err, before)  # COPY bypasses the session's own guard
            raise err from exc


def _copy_records(
    info: ModelInfo, keys: tuple[str, ...], run: list[Mapping[str, Any]], dialect: Any
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and tuples for COPY: given values, Python defaults, bind processors."""
    cols: list[Column[Any]] = [info.column(k) for k in keys]
    defaults = [c for c in info.table.columns if c.default is not None and c not in cols]
    names = [c.name for c in (*cols, *defaults)]
    get = operator.itemgetter(*keys) if len(keys) > 1 else lambda r: (r[keys[0]],)
    convert: list[tuple[int, Callable[[Any], Any]]] = []
    for i, col in enumerate(cols):
        processor = col.type._cached_bind_processor(dialect)
        if processor is not None:
            convert.append((i, processor))
    if not convert and not defaults:
        return names, [get(row) for row in run]
    makers = [(_default_maker(c), c.type._cached_bind_processor(dialect)) for c in defaults]
    records = []
    for row in run:
        values = list(get(row))
        for i, process in convert:
            if values[i] is not None:
                values[i] = process(values[i])
        for make, to_db in makers:
            value = make()
            values.append(to_db(value) if to_db is not None and value is not None else value)
        records.append(tuple(values))
    return names, records


def _default_maker(column: Column[Any]) -> Callable[[], Any]:
    default: Any = column.default
    if default.is_callable:
        fn = default.arg
        return lambda: fn(None)
    value = default.arg
    return lambda: value


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
) -> Any:
    """INSERT … ON CONFLICT / ON DUPLICATE KEY UPDATE: for ``rows``, or for executemany."""
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
        return stmt.on_duplicate_key_update(guarded)
    raise SqlopsError(f"upsert is not supported on {dialect}")  # pragma: no cover


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
    if repo.dialect == "mysql":
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
    for offset, chunk in enumerate(chunks(rows, size)):
        deduped: dict[tuple[Any, ...], Mapping[str, Any]] = {}
        for keys, run in layouts.runs(chunk, offset * size):
            missing = [k for k in key_of if k not in keys]
            if missing:
                raise InvalidValueError(f"upsert rows must include the conflict column(s) {names}")
            for row in run:
                deduped[tuple(row[k] for k in key_of)] = row
        for keys, run in layouts.runs(list(deduped.values()), offset * size):
            stmt = statements.get(keys)
            if stmt is None:
                updating = _update_columns(info, keys, names, update_)
                stmt = statements[keys] = upsert_statement(
                    repo.dialect, info, None, names, updating
                )
            await session.execute(stmt, layouts.by_column_key(keys, run))
        if repo.dialect == "mysql":
            await _check_all_written(session, info, names, key_of, deduped)
        total += len(deduped)
    return total


async def _check_all_written(
    session: AsyncSession,
    info: ModelInfo,
    names: list[str],
    key_of: list[str],
    rows: dict[tuple[Any, ...], Mapping[str, Any]],
) -> None:
    """MariaDB skips a row that clashed on another unique key: find it, as a violation.

    Its guarded ON DUPLICATE KEY UPDATE changes nothing then (see upsert_statement), and
    the other backends raise UniqueViolation for such a row; one SELECT per chunk finds
    the conflict keys that are not in the table.
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
    for key, row in rows.items():
        if key not in found_keys:
            missing = _with_defaults(info, _by_column_name(info, row))
            err = await _other_key_violation(session, info, missing, names)
            _failures.note(session, err, _failures.innermost(session), from_database=False)
            raise err


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
