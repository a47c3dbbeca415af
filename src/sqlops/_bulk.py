"""Bulk inserts per dialect: COPY, multi-row VALUES; the row layouts every bulk path shares.

PostgreSQL gets ``COPY`` (asyncpg ``copy_records_to_table``) when no RETURNING is needed:
the fastest way in. Elsewhere rows go in as executemany / multi-row VALUES. Upserts and
counters are in :mod:`sqlops._upsert`.
"""

from __future__ import annotations

import hashlib
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Table,
    UniqueConstraint,
    insert,
    inspect,
    select,
    text,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import attributes
from sqlalchemy.sql import ClauseElement

from . import _attach, _checks, _failures, _internals, _sendable, _translate
from ._errors import InvalidValueError
from ._modelinfo import ModelInfo

if TYPE_CHECKING:
    from ._repobase import RepositoryBase as Repository

COPY_CHUNK = 10_000
VALUES_CHUNK = 1_000
_MAX_PARAMS = 30_000


# ----------------------------------------------------------------------------- helpers


def chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Yield lists of at most ``size`` items, consuming ``rows`` lazily."""
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _row_dict(info: ModelInfo, row: Any, index: int) -> Mapping[str, Any]:
    """A mapping row as given, or a model instance's column values."""
    if type(row) is dict or isinstance(row, Mapping):  # a plain dict skips the ABC check
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
        same = self._one_layout(chunk, offset)
        if same is not None:
            return [same]
        out: list[Run] = []
        current: tuple[str, ...] | None = None
        rows: list[Mapping[str, Any]] = []
        checks: list[tuple[str, Callable[[Any], Any]]] = []
        info = self.info
        for i, row in enumerate(chunk):
            mapping = row if type(row) is dict else _row_dict(info, row, offset + i)
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

    def _one_layout(self, chunk: Sequence[Any], offset: int) -> Run | None:
        """The usual case in C-level loops: plain dicts, all with the same keys, checked by column.

        None when the rows are anything else, or a value is bad: the row-by-row loop handles
        those, and names the first bad row.
        """
        if not chunk or set(map(type, chunk)) != {dict}:
            return None
        layouts = set(map(tuple, chunk))
        if len(layouts) != 1:
            return None
        (keys,) = layouts
        known = self._valid.get(keys)
        checks = known if known is not None else self._check(keys, offset)
        for key, check in checks:
            values = list(map(operator.itemgetter(key), chunk))
            if not _checks.needs_checking(check, set(map(type, values))):
                continue
            try:
                for value in values:
                    check(value)
            except InvalidValueError:
                return None  # the loop names the first bad row, as the columns come in it
        return keys, list(chunk)

    def _check(self, keys: tuple[str, ...], index: int) -> list[tuple[str, Callable[[Any], Any]]]:
        unknown = [k for k in keys if k not in self.info.columns]
        if unknown:
            raise InvalidValueError(
                f"row {index}: {self.info.name} has no column {self.info.not_columns(unknown)}; "
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
    # COPY and executemany send rows, not the parameters of one statement: no parameter
    # limit, and fewer, larger chunks (one statement's fixed cost each). RETURNING renders
    # multi-row VALUES, whose parameter count the backends limit.
    size = chunk_size or (_values_chunk(info) if returning else COPY_CHUNK)
    if size < 1:
        raise ValueError("chunk_size must be >= 1")
    layouts = Layouts(info)
    done = 0
    created: list[Any] = []
    for chunk in chunks(rows, size):
        if returning:
            created += await _insert_returning(session, layouts, chunk, done)
        else:
            await _insert_chunk(session, layouts, chunk, done, use_copy)
        done += len(chunk)
        if progress is not None:
            progress(done)
    return created if returning else done


async def _insert_chunk(
    session: AsyncSession, layouts: Layouts, chunk: list[Any], offset: int, use_copy: bool
) -> None:
    """COPY or executemany, run by run; rows holding SQL expressions go through the ORM."""
    info = layouts.info
    runs = [(keys, run, sql_values(run)) for keys, run in layouts.runs(chunk, offset)]
    if use_copy and not any(expressive for *_, expressive in runs):
        await _copy(session, info, [(keys, run) for keys, run, _ in runs])  # one hand-off
        return
    target = info.model if info.inherits else info.table
    for keys, run, expressive in runs:
        if expressive:
            await _insert_objects(session, info, run, keep=False)
        elif use_copy:
            await _copy(session, info, [(keys, run)])
        else:
            rows = run if info.inherits else layouts.by_column_key(keys, run)
            await session.execute(insert(target), rows)


def _observed(session: AsyncSession) -> bool:
    """Whether the session's statements are watched (listeners or echo, see Database)."""
    return _attach.observed(session.sync_session.bind)


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
        if sql_values(run):
            out += await _insert_objects(session, info, run, keep=True)
            continue
        stmt = insert(info.model).returning(info.model, sort_by_parameter_order=True)
        out += list((await session.scalars(stmt, run)).all())
    return out


def sql_values(run: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a value in ``run`` is a SQL expression (``func.now()``, a scalar subquery).

    Such a value is rendered into the statement, which COPY and executemany cannot do
    (they send values only): those rows take a statement of their own. One pass over
    each column's values at C speed; a chunk of plain values costs well under 0.1 µs a row.
    """
    if not run:
        return False
    kinds: set[type] = set()
    for key in run[0]:
        kinds.update(map(type, map(operator.itemgetter(key), run)))
    return any(_is_sql(t) for t in kinds)


def _is_sql(kind: type) -> bool:
    return issubclass(kind, ClauseElement) or hasattr(kind, "__clause_element__")


def refuse_column_references(info: ModelInfo, rows: Iterable[Mapping[str, Any]]) -> None:
    """An INSERT value may be computed (``func.now()``) but may not read a column
    (``User.email``): there is no row yet. PostgreSQL and SQLite fail untyped; MariaDB
    would copy whatever the column holds so far."""
    for row in rows:
        for key, value in row.items():
            if not _is_sql(type(value)):
                continue
            expr = value.__clause_element__() if hasattr(value, "__clause_element__") else value
            if getattr(expr, "_from_objects", None):
                raise InvalidValueError(
                    f"{info.table.name}.{info.column(key).name}: a SQL expression that reads "
                    "a column cannot be inserted (the row does not exist yet); give a value, "
                    "or an expression such as func.now()",
                    table=info.table.name,
                    column=info.column(key).name,
                )


async def _insert_objects(
    session: AsyncSession, info: ModelInfo, run: list[Mapping[str, Any]], *, keep: bool
) -> list[Any]:
    """Insert ``run`` as instances, as ``create()`` does: the unit of work renders each
    row's SQL expressions and loads what they computed. ``keep=False`` leaves the session
    as the bulk paths do, without the objects."""
    refuse_column_references(info, run)
    objs = [info.model(**row) for row in run]
    session.add_all(objs)
    await session.flush()
    if not keep:
        for obj in objs:
            session.expunge(obj)
        return objs
    # what an expression computed is expired after the flush (unless RETURNING brought it
    # back): one SELECT loads it for every object, which may then be used detached
    stale = [obj for obj in objs if not info.columns.keys().isdisjoint(inspect(obj).unloaded)]
    if stale:
        pk = info.mapper.primary_key
        keys = [info.mapper.primary_key_from_instance(obj) for obj in stale]
        match = pk[0].in_([k[0] for k in keys]) if len(pk) == 1 else tuple_(*pk).in_(keys)
        reload = select(info.model).where(match).execution_options(populate_existing=True)
        await session.execute(reload)
    return objs


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
    """COPY the rows into the table in the session's transaction, on its driver connection.

    ``_attach.on_driver`` does what every fast route needs: the session held for this
    task, BEGIN sent first (asyncpg), the driver used under SQLAlchemy's adapter lock, and
    a connection lost or cut off midway (a cancelled COPY) discarded, not pooled.
    """
    dialect = session.sync_session.get_bind(info.mapper).dialect
    before = _failures.innermost(session)
    table = info.table

    async def copy(driver: Any) -> None:
        for keys, run in runs:
            try:
                columns, records = _copy_records(info, keys, run, dialect)
                await driver.copy_records_to_table(
                    table.name, records=records, columns=columns, schema_name=table.schema
                )
            except Exception as exc:
                # the rows as parameters: the translator finds the column whose value broke
                context = _translate._Context(table=table, params=run)
                err = _translate.translate(exc, context)
                if err is None and isinstance(exc, _translate.BIND_ERRORS):
                    # a bind processor, or asyncpg's encoder, given the wrong kind of value;
                    # the encoder quotes the value, which tells the column
                    column = _translate.column_holding(context, _translate.quoted_value(exc))
                    err = _translate.invalid_value(context, _translate.no_values(exc), column)
                if err is None:
                    raise
                err.__cause__ = exc
                _failures.note(session, err, before)  # COPY bypasses the session's own guard
                raise err from exc

    await _attach.on_driver(session, info.mapper, copy)


def _copy_records(
    info: ModelInfo, keys: tuple[str, ...], run: list[Mapping[str, Any]], dialect: Any
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and tuples for COPY: given values, Python defaults, bind processors."""
    cols: list[Column[Any]] = [info.column(k) for k in keys]
    if dialect.driver == "psycopg":  # a list as an array, a number as text: PostgreSQL casts
        _sendable.refuse_copied(cols, keys, run, dialect)
    defaults = [c for c in info.table.columns if c.default is not None and c not in cols]
    names = [c.name for c in (*cols, *defaults)]
    get = operator.itemgetter(*keys) if len(keys) > 1 else lambda r: (r[keys[0]],)
    convert: list[tuple[int, Callable[[Any], Any]]] = []
    for i, col in enumerate(cols):
        processor = _internals.bind_processor(col.type, dialect)
        if processor is not None:
            convert.append((i, processor))
    if not convert and not defaults:
        return names, [get(row) for row in run]
    makers = [(_default_maker(c), _internals.bind_processor(c.type, dialect)) for c in defaults]
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
