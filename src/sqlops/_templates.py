"""Read templates: a SELECT compiled once per query shape, then run on the driver.

Building a ``Select`` from keyword filters, computing its cache key and executing it
through SQLAlchemy costs about as much client time as PostgreSQL spends answering a
50-row page. But HTTP list endpoints ask the same few *shapes* of query over and over
(``name__like`` + ``order_by=id`` + a page), only with other values. A template is that
shape compiled once with bound parameters; later calls only convert the values (the
same :meth:`Term.bind` the normal path uses) and hand SQL text and parameters to the
driver — asyncpg keeps the statement prepared (named, in its statement cache), except
under ``pooler="pgbouncer"``, where its cache is off and every template runs as the
unnamed statement, parsed and executed in one exchange; learning a template's result
types prepares it unnamed in every setting, so a template never leaves a named
statement on a server connection that sqlops did not choose (:mod:`sqlops._pooler`).

Reads of plain models on asyncpg, aiosqlite or asyncmy take this path, standalone (on a pooled
connection) and injected (on the session's own connection, see :mod:`sqlops._attach`);
so do the sync twin's standalone reads on sqlite3, psycopg and PyMySQL. Anything else
builds the statement as usual. :mod:`sqlops._executor` decides. Rows become instances
through the same :class:`~sqlops._fastread.ReadPlan`. A stream's template is read in
batches from the driver's own cursor (:func:`stream_rows`), never through ``Result``.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Table,
    bindparam,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.type_api import TypeEngine

from . import _internals, _pooler, _sendable
from ._errors import InvalidValueError, SqlopsError, got
from ._filters import Term, term_for
from ._modelinfo import ModelInfo
from ._translate import translate
from ._translate_common import _Context, _invalid_value, _no_values, _strip_suffix

SYNC_DRIVERS = ("pysqlite", "psycopg", "pymysql")  # sqlops.sync: its TemplateDriver
DRIVERS = ("asyncpg", "aiosqlite", "asyncmy", *SYNC_DRIVERS)
STREAM_DRIVERS = ("asyncpg", "aiosqlite")  # those with a cursor of their own: stream_rows()
_PREFIX = "sqlops_"
_MAX_TEMPLATES = 512  # per dialect; query shapes are few, values are not part of a shape


class NotTemplatable(Exception):
    """The statement binds a parameter the template does not own: use the normal path."""


class _Unsendable(Exception):
    """A bind processor refused ``args[index]``: nothing was sent."""

    def __init__(self, index: int) -> None:
        self.index = index


class Fallback(Exception):
    """The driver raised something the translator does not know: redo the read normally.

    The ordinary path raises it the way SQLAlchemy does (a ``DBAPIError``), so callers'
    ``except`` clauses do not depend on which path served the read.
    """


@dataclass
class Query:
    """The filters of one call, bound: shape key, parameter values and their types."""

    terms: list[tuple[Term, Any, list[Any]]]
    args: list[Any] = field(default_factory=list)
    types: list[TypeEngine[Any]] = field(default_factory=list)

    @classmethod
    def from_filters(cls, info: ModelInfo, filters: Mapping[str, Any]) -> Query:
        query = cls([])
        for key, value in filters.items():
            term = term_for(info, key)
            shape, values = term.bind(value)
            query.terms.append((term, shape, values))
            query.add(values, term.column_type)
        return query

    def add(self, values: Sequence[Any], type_: TypeEngine[Any]) -> list[int]:
        """Append parameter values; return their positions."""
        start = len(self.args)
        self.args.extend(values)
        self.types.extend([type_] * len(values))
        return list(range(start, len(self.args)))

    @property
    def shape(self) -> tuple[Hashable, ...]:
        return tuple((term.key, shape) for term, shape, _ in self.terms)

    def conditions(self, params: Sequence[Any]) -> list[ColumnElement[bool]]:
        """The WHERE terms over ``params`` (bind parameters, in ``self.args`` order)."""
        out = []
        position = 0
        for term, shape, values in self.terms:
            out.append(term.condition(shape, params[position : position + len(values)]))
            position += len(values)
        return out


@dataclass
class Template:
    """One compiled shape: SQL text, where each parameter comes from, processors.

    ``named`` dialects (psycopg, PyMySQL: ``%(name)s``) take a mapping, the others a list.
    """

    sql: str
    order: tuple[int, ...]
    bind: tuple[Callable[[Any], Any] | None, ...]
    result_types: tuple[TypeEngine[Any], ...]
    result: tuple[Callable[[Any], Any] | None, ...] | None = None
    named: bool = False
    table: Table | None = None  # a write's table: the translator names its constraints
    # per parameter: why a value is refused before it is sent, or None (see _sendable)
    refuse: tuple[Callable[[Any], str | None] | None, ...] = ()
    mariadb: bool = False  # asyncmy / PyMySQL: refuse what they would mangle (_sendable)

    def parameters(self, args: Sequence[Any]) -> Any:
        """The driver's parameters; :class:`_Unsendable` for a value its type cannot send."""
        out = []
        for index, process, refuse in zip(self.order, self.bind, self.refuse, strict=True):
            value = args[index]
            if refuse is not None and value is not None:
                reason = refuse(value)
                if reason is not None:
                    raise _Unsendable(index) from TypeError(reason)
            try:
                out.append(process(value) if process is not None and value is not None else value)
            except (TypeError, ValueError, ArithmeticError, AttributeError) as exc:
                raise _Unsendable(index) from exc  # AttributeError: ``value.tzinfo`` of an int
            if self.mariadb:
                reason = _sendable.mariadb_refusal(out[-1])
                if reason is not None:
                    raise _Unsendable(index) from TypeError(reason)
        if self.named:
            return {f"{_PREFIX}{i}": v for i, v in zip(self.order, out, strict=True)}
        return out


# Keyed by the dialect object itself, weakly: an id() could be reused by a later dialect
# of another driver (asyncpg after psycopg) and hand it the other driver's processors.
_templates: weakref.WeakKeyDictionary[Dialect, dict[Hashable, Template]] = (
    weakref.WeakKeyDictionary()
)


def template(
    dialect: Dialect,
    key: Hashable,
    types: Sequence[TypeEngine[Any]],
    result_types: Sequence[TypeEngine[Any]],
    make: Callable[[list[BindParameter[Any]]], Any],
) -> Template:
    """The template for ``key``, compiling ``make(params)`` the first time."""
    cache = _templates.setdefault(dialect, {})
    found = cache.get(key)
    if found is None:
        params = [bindparam(f"{_PREFIX}{i}", type_=t) for i, t in enumerate(types)]
        statement = make(params)
        compiled = statement.compile(dialect=dialect)
        order = []
        names = compiled.positiontup if compiled.positional else list(compiled.binds)
        for name in names or ():
            if not name.startswith(_PREFIX):
                raise NotTemplatable(name)
            order.append(int(name[len(_PREFIX) :]))
        if len(cache) >= _MAX_TEMPLATES:
            cache.clear()
        found = cache[key] = Template(
            sql=str(compiled),
            order=tuple(order),
            bind=tuple(_internals.bind_processor(types[i], dialect) for i in order),
            refuse=tuple(_sendable.refusal(types[i], dialect) for i in order),
            result_types=tuple(result_types),
            named=not compiled.positional,
            table=_written_table(statement),
            mariadb=dialect.driver in ("asyncmy", "pymysql"),
        )
    return found


def _written_table(statement: Any) -> Table | None:
    table = getattr(statement, "table", None) if getattr(statement, "is_dml", False) else None
    return table if isinstance(table, Table) else None


INT = BigInteger()  # LIMIT / OFFSET: anything up to 2**63 - 1 (asyncpg checks the width)


async def fetch(
    template: Template,
    dialect: Dialect,
    driver: Any,
    args: Sequence[Any],
    names: Sequence[str] = (),
) -> list[Any]:
    """Run ``template`` on a driver connection; rows with result processors applied.

    ``names`` (a write's) say which column each of ``args`` is for, as SQLAlchemy's bind
    names do (``name``, ``id_1`` in a WHERE), so the translator can name the column of a
    refused value.
    """
    rows = await _translated(_run(template, dialect, driver, args), template, args, names)
    result = template.result
    assert result is not None
    if not any(result):
        return list(rows)
    return [
        [p(v) if p is not None and v is not None else v for p, v in zip(result, row, strict=True)]
        for row in rows
    ]


async def execute(
    template: Template,
    dialect: Dialect,
    driver: Any,
    args: Sequence[Any],
    names: Sequence[str] = (),
) -> int:
    """Run the write ``template`` (no RETURNING) on a driver connection: its rowcount.

    For :data:`COUNT_DRIVERS` (MariaDB has no ``UPDATE … RETURNING``). The rowcount is
    the number of rows matched, as on SQLAlchemy's own route: SQLAlchemy connects with
    ``CLIENT.FOUND_ROWS``, and this is the same connection. Errors as :func:`fetch`.
    """
    count: int = await _translated(_count(template, dialect, driver, args), template, args, names)
    return count


COUNT_DRIVERS = ("asyncmy", "pymysql")


async def _count(template: Template, dialect: Dialect, driver: Any, args: Sequence[Any]) -> int:
    parameters = template.parameters(args)
    if dialect.driver == "asyncmy":
        cursor = driver.cursor()
        try:
            await cursor.execute(template.sql, parameters)
            return int(cursor.rowcount)
        finally:
            await cursor.close()
    return int(await driver.execute_count(template.sql, parameters))  # sqlops.sync's


async def _translated(
    call: Awaitable[Any], template: Template, args: Sequence[Any], names: Sequence[str]
) -> Any:
    """Await ``call`` (a run of ``template``); its errors as sqlops errors, or Fallback."""
    try:
        return await call
    except SqlopsError:
        raise
    except _Unsendable as exc:  # what SQLAlchemy's StatementError becomes on the other routes
        cause = exc.__cause__ or exc
        column = _strip_suffix(names[exc.index]) if names else None
        reason = f"a value could not be sent to the database: {_no_values(cause)}"
        if column is not None:
            reason += " " + got(type(args[exc.index]).__name__)
        # from None: nothing reached the database, the caller's transaction goes on
        if template.table is not None and column is not None:
            raise _invalid_value(_context(template, args, names), reason, column) from None
        raise InvalidValueError(reason) from None
    except Exception as exc:
        err = translate(exc, _context(template, args, names))
        if err is None:
            raise Fallback(type(exc).__name__) from exc
        raise err from exc


def _context(template: Template, args: Sequence[Any], names: Sequence[str]) -> _Context:
    if not names:
        return _Context(table=template.table)
    return _Context(
        table=template.table,
        params=[dict(zip(names, args, strict=True))],
        positions=[names[i] for i in template.order],
    )


async def _run(template: Template, dialect: Dialect, driver: Any, args: Sequence[Any]) -> Any:
    parameters = template.parameters(args)
    if dialect.driver == "asyncpg":
        if template.result is None:
            await _learn_asyncpg(template, dialect, driver)
        return await driver.fetch(template.sql, *parameters)
    if dialect.driver == "asyncmy":
        return await _run_asyncmy(template, dialect, driver, parameters)
    if dialect.driver in SYNC_DRIVERS:
        learn = template.result is None
        rows, codes = await driver.fetch_typed(template.sql, parameters, learn)
        if learn and codes:  # SQLAlchemy's processors take the type codes
            template.result = tuple(
                _internals.result_processor(t, dialect, code)
                for t, code in zip(template.result_types, codes, strict=True)
            )
        return rows
    if template.result is None:
        template.result = tuple(
            _internals.result_processor(t, dialect, None) for t in template.result_types
        )
    return await driver.execute_fetchall(template.sql, parameters)


async def _learn_asyncpg(template: Template, dialect: Dialect, driver: Any) -> None:
    """Result processors depend on the server's type OIDs (asyncpg Numeric): ask once.

    The statement is prepared unnamed, always: only its Describe is wanted, and a named
    one (asyncpg's default before 0.31, and with its cache on) would stay on the server
    connection until asyncpg closed it in a later exchange — behind PgBouncer in
    transaction mode that exchange may reach another server connection, leaving the name
    behind for a client of another process to collide with (see :mod:`sqlops._pooler`).
    """
    prepared = await driver.prepare(template.sql, name=_pooler.UNNAMED)
    oids = [attribute.type.oid for attribute in prepared.get_attributes()]
    template.result = tuple(
        _internals.result_processor(t, dialect, oid)
        for t, oid in zip(template.result_types, oids, strict=True)
    )


def _learn_codes(template: Template, dialect: Dialect, codes: Sequence[Any]) -> None:
    """Result processors from the cursor's type codes (MySQL DECIMAL vs FLOAT, …)."""
    template.result = tuple(
        _internals.result_processor(t, dialect, code)
        for t, code in zip(template.result_types, codes, strict=True)
    )


async def _run_asyncmy(
    template: Template, dialect: Dialect, driver: Any, parameters: Sequence[Any]
) -> Any:
    """Run ``template`` on an asyncmy connection's buffered cursor (``%s`` placeholders)."""
    cursor = driver.cursor()
    try:
        await cursor.execute(template.sql, parameters)
        rows = await cursor.fetchall()
        if template.result is None and cursor.description:
            _learn_codes(template, dialect, [column[1] for column in cursor.description])
    finally:
        await cursor.close()
    return rows


# ---------------------------------------------------------------------- streams


async def stream_rows(
    template: Template, dialect: Dialect, driver: Any, args: Sequence[Any], batch_size: int
) -> AsyncGenerator[Sequence[Any], None]:
    """Yield the rows of ``template``, ``batch_size`` at a time, from the driver's cursor.

    On asyncpg a server-side portal in the caller's transaction, on aiosqlite a cursor
    read with ``fetchmany``: nothing but the batch in hand is held. Result processors are
    applied. An error the translator does not know raises :class:`Fallback` while no row
    has been yielded (the ordinary path then raises it as SQLAlchemy does), and itself
    after. The cursor is closed when the iterator stops early; a call cut off midway
    leaves it to the caller, who discards the connection. A stream abandoned without
    ``aclose()`` (``break`` out of ``async for``) is closed later by the event loop's
    finalizer, in a task of its own: an asyncpg portal is then left to the end of the
    transaction, since the connection may meanwhile run the caller's next statement
    (closing it there would fail with "another operation is in progress").
    """
    owner = _current_task()
    cursor = await _guarded(_open_cursor(template, dialect, driver, args), first=True)
    done = broken = False
    try:
        first = True
        while not done:
            rows = await _guarded(_fetch_more(cursor, batch_size), first=first)
            done = len(rows) < batch_size
            if rows:
                first = False
                yield _processed(template, rows)
    except BaseException as exc:
        broken = not isinstance(exc, (Exception, GeneratorExit))
        raise
    finally:
        if not broken:
            await _close_cursor(cursor, done or _current_task() is not owner)


def _current_task() -> asyncio.Task[Any] | None:
    """The running task; None for the sync twin, which drives coroutines without a loop."""
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


async def _guarded(call: Any, *, first: bool) -> Any:
    """Await a driver ``call``; its error translated (see :func:`stream_rows`)."""
    try:
        return await call
    except SqlopsError:
        raise
    except Exception as exc:
        err = translate(exc)
        if err is not None:
            raise err from exc
        if first:
            raise Fallback(type(exc).__name__) from exc
        raise


async def _open_cursor(
    template: Template, dialect: Dialect, driver: Any, args: Sequence[Any]
) -> Any:
    parameters = template.parameters(args)
    if dialect.driver == "asyncpg":
        if template.result is None:
            await _learn_asyncpg(template, dialect, driver)
        return await driver.cursor(template.sql, *parameters)  # prepared (cached), bound
    if template.result is None:
        template.result = tuple(
            _internals.result_processor(t, dialect, None) for t in template.result_types
        )
    return await driver.execute(template.sql, parameters)


async def _fetch_more(cursor: Any, size: int) -> Sequence[Any]:
    if hasattr(cursor, "fetchmany"):  # aiosqlite
        rows: Sequence[Any] = await cursor.fetchmany(size)
        return rows
    rows = await cursor.fetch(size)  # asyncpg
    return rows


async def _close_cursor(cursor: Any, done: bool) -> None:
    """Close ``cursor``: aiosqlite's always, an asyncpg portal that was not read to its end."""
    if hasattr(cursor, "fetchmany"):
        await cursor.close()
    elif not done:
        await _internals.asyncpg_close_portal(cursor)


def _processed(template: Template, rows: Sequence[Any]) -> Sequence[Any]:
    result = template.result
    assert result is not None
    if not any(result):
        return rows
    return [
        [p(v) if p is not None and v is not None else v for p, v in zip(result, row, strict=True)]
        for row in rows
    ]
