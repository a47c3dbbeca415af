"""Per-backend connection set-up: what every new connection needs before first use."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncConnection

from . import _autocommit, _internals, _sendable, _sqlite_begin
from ._errors import DatabaseUnavailableError, SqlopsError
from ._loopguard import check_loop
from ._translate import translate
from ._url import is_memory_sqlite, safe_url

logger = logging.getLogger("sqlops")

SQLITE_BUSY_TIMEOUT_MS = 5000
CONNECT_TIMEOUT = 10
# A PostgreSQL connection idle longer than this is pinged before use; a younger one is
# trusted unless asyncpg already saw the server close it.
PING_IDLE_AFTER = 10.0
READONLY_OPTION = "sqlops_readonly"  # a read-only transaction: replica, deferred BEGIN
ENFORCE_READONLY_OPTION = "sqlops_enforce_readonly"  # transaction(readonly=True): refuse writes
_QUERY_ONLY = "sqlops_query_only"  # connection info: SQLite's PRAGMA query_only is on
_BEGIN_SQL = "sqlops_begin"  # connection info: the BEGIN the next do_begin sends (SQLite)
_IDLE_SINCE = "sqlops_idle_since"
IDLE_SINCE = _IDLE_SINCE  # record info: when the connection was last checked in
# Drivers that read their socket while idle: a closed connection is seen without a ping.
SOCKET_LIVENESS = ("asyncpg", "asyncmy")


def configure_engine(engine: Engine, family: str, url: URL) -> None:
    """Attach the connect / begin hooks ``family`` needs to ``engine``."""
    target = safe_url(url)

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Dialect, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        _default_timeouts(family, cparams, str(dialect.driver))
        if family == "sqlite":
            _check_sqlite_directory(url, target)
        else:
            _shield_connect(dialect, cparams)
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            raise DatabaseUnavailableError(f"cannot connect to {target}: {_reason(exc)}") from exc

    if family == "sqlite":
        _configure_sqlite(engine, url)
        logging.getLogger("aiosqlite").addFilter(_aiosqlite_call_filter)  # a set, as below
    elif family == "mysql":
        event.listen(engine, "connect", _mysql_on_connect)
        event.listen(engine, "begin", _mysql_begin)
        _autocommit.install(engine)
        if url.get_driver_name() in ("asyncmy", "aiomysql", "pymysql"):  # PyMySQL's escaping
            _sendable.refuse_unsendable(engine.dialect)
        for name in ("asyncmy", "aiomysql"):
            logging.getLogger(name).addFilter(_pk_note_filter)  # a set: adding twice is a no-op
    if url.get_driver_name() == "psycopg":
        _sendable.refuse_psycopg_casts(engine.dialect)
    if url.get_driver_name() in SOCKET_LIVENESS and not engine.pool._pre_ping:
        _configure_liveness(engine)


def _configure_liveness(engine: Engine) -> None:
    """Replace dead pooled connections before use, without a round trip per checkout.

    ``pool_pre_ping`` costs one round trip on every checkout — as much as the query on a
    primary-key read. asyncpg and asyncmy read their socket continuously, so a backend
    the server terminated (restart, failover, ``pg_terminate_backend``, ``KILL``, idle
    kill) shows up as closed at no cost (asyncpg's ``is_closed()``, asyncmy's protocol
    state); only connections idle for a while (where a silent
    network drop is possible) are really pinged. A connection found dead is replaced
    by the pool (``DisconnectionError``).
    """

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        doubt = liveness_doubt(dbapi_connection, record)
        if doubt is _CLOSED:
            raise sa_exc.DisconnectionError("the server closed this connection")
        if doubt is not None:
            try:
                engine.dialect.do_ping(dbapi_connection)
            except Exception as exc:
                raise sa_exc.DisconnectionError("ping failed on an idle connection") from exc


_CLOSED = "closed"
_PING = "ping"


def liveness_doubt(dbapi_connection: Any, record: Any) -> str | None:
    """Why an idle pooled asyncpg / asyncmy connection cannot be handed out as it is.

    ``"closed"`` (known dead: the pool replaces it), ``"ping"`` (idle for long, or its
    state cannot be read: one round trip tells), or None. The checkout listener above
    and the pool's fast lane (:func:`lane_ready`) both decide by it.
    """
    closed = _closed(getattr(dbapi_connection, "driver_connection", None))
    if closed:
        return _CLOSED
    idle_since = record.info.get(_IDLE_SINCE)
    stale = idle_since is not None and time.monotonic() - idle_since > PING_IDLE_AFTER
    return _PING if stale or closed is None else None


def lane_clean(driver: str) -> Callable[[Any], bool] | None:
    """How to tell that a ``driver`` connection has no transaction open after a template
    read (it can go back to the pool without a reset), or None: no lane for ``driver``."""
    if driver == "asyncpg":
        return _asyncpg_idle
    if driver in ("aiosqlite", "pysqlite"):
        return _sqlite_idle
    if driver in _autocommit.DRIVERS:
        return _autocommit.idle_in_autocommit
    if driver == "psycopg":
        return _psycopg_idle
    return None


def _asyncpg_idle(driver: Any) -> bool:
    return not bool(driver.is_in_transaction())


def _sqlite_idle(driver: Any) -> bool:
    return not bool(driver.in_transaction)


def _psycopg_idle(driver: Any) -> bool:
    return bool(driver.info.transaction_status == 0)  # psycopg.pq.TransactionStatus.IDLE


def lane_ready(record: Any) -> bool:
    """Whether an idle asyncpg / asyncmy connection may skip the checkout (:mod:`sqlops._lane`).

    What this module's checkout listener and the loop guard check; a connection another
    event loop opened raises as at any checkout.
    """
    check_loop(record)
    return liveness_doubt(record.dbapi_connection, record) is None


def _closed(driver: Any) -> bool | None:
    """Whether an idle pooled connection is known closed; None when it cannot be told."""
    if driver is None:
        return True
    is_closed = getattr(driver, "is_closed", None)  # asyncpg
    return is_closed() if is_closed is not None else _internals.asyncmy_closed(driver)


def begins_lazily(engine: Engine) -> bool:
    """Whether ``engine`` trusts pooled connections without a round trip (asyncpg here).

    Then BEGIN is the first round trip that can find a connection the server dropped.
    """
    return engine.dialect.driver == "asyncpg" and not engine.pool._pre_ping


async def begin_now(conn: AsyncConnection) -> BaseException | None:
    """Send asyncpg's BEGIN now; if the connection proves dead, invalidate it and return why.

    SQLAlchemy's asyncpg adapter sends BEGIN as a round trip of its own just before the
    first statement, so sending it here costs nothing. It moves the failure of a
    connection that the server closed while it sat in the pool — killed, restarted,
    its FIN not read yet when the checkout looked at ``is_closed()`` — to a point where
    nothing of the transaction has run, so the caller can take a fresh connection
    instead of failing the caller's first statement.
    """
    raw = await _internals.raw_connection(conn)
    adapter: Any = raw.dbapi_connection
    start = getattr(adapter, "_start_transaction", None)
    if start is None or getattr(adapter, "_transaction", True) is not None:
        return None  # not SQLAlchemy's asyncpg adapter, or already begun
    try:
        await start()
    except BaseException as exc:
        if not isinstance(exc, Exception):
            # Cancelled while BEGIN was in flight: asyncpg already thinks a transaction
            # is open (its next BEGIN would be a SAVEPOINT inside it) while SQLAlchemy's
            # adapter does not, and the server may or may not have begun one. Nothing
            # can make that connection consistent again: discard it.
            raw.invalidate(exc)
            raise
        driver = raw.driver_connection
        if not (driver is None or driver.is_closed()) and not is_lost(exc):
            raise translate(exc) or exc from exc
        invalidate_all(raw, exc)
        await conn.invalidate(exc)
        return exc
    return None


def is_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection itself is gone (not the statement's fault)."""
    return isinstance(translate(exc), DatabaseUnavailableError)


def invalidate_all(connection: Any, exc: BaseException) -> None:
    """Invalidate ``connection`` and every older one in its pool, as SQLAlchemy does itself.

    A server that dropped one pooled connection (restart, failover) has usually dropped
    them all; the rest are replaced at their next checkout instead of failing one by one.
    """
    pool = getattr(connection, "_pool", None)  # a pool's _ConnectionFairy knows its pool
    if pool is not None:
        pool._invalidate(connection, exc)
    elif getattr(connection, "is_valid", False):
        connection.invalidate(exc)


def _check_sqlite_directory(url: URL, target: str) -> None:
    """Refuse a file in a missing directory before aiosqlite starts a thread for it.

    SQLite would fail with "unable to open database file"; saying which directory is
    missing is clearer, and aiosqlite's worker thread for a failed connect can outlive
    the event loop that asked for it.
    """
    database = url.database or ""
    if is_memory_sqlite(url) or database.startswith("file:"):
        return
    directory = os.path.dirname(os.path.abspath(database))
    if not os.path.isdir(directory):
        raise DatabaseUnavailableError(
            f"cannot open {target}: directory {directory} does not exist"
        )


_DRIVER_CONNECT = {"asyncpg": "connect", "asyncmy": "connect", "aiomysql": "connect"}


def _shield_connect(dialect: Dialect, cparams: dict[str, Any]) -> None:
    """Let a connection attempt finish even if the task that wanted it is cancelled.

    Cancelling asyncpg in the middle of its handshake leaves a future whose exception
    nobody retrieves ("unexpected connection_lost() call" in the log), and a half-open
    socket. The attempt runs as its own task instead; the cancelled caller returns at
    once and the connection, when it arrives, is closed.
    """
    name = _DRIVER_CONNECT.get(str(dialect.driver))
    module = getattr(dialect.loaded_dbapi, str(dialect.driver), None)
    connect = getattr(module, name, None) if name else None
    if connect is not None:
        cparams.setdefault("async_creator_fn", _shielded(connect))


def _shielded(connect: Any) -> Any:
    async def connect_shielded(*args: Any, **kwargs: Any) -> Any:
        attempt = asyncio.ensure_future(connect(*args, **kwargs))
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            attempt.add_done_callback(_close_abandoned)
            raise

    return connect_shielded


_closing: set[asyncio.Future[Any]] = set()


def _close_abandoned(attempt: asyncio.Future[Any]) -> None:
    """Close a connection that arrived after its caller was cancelled."""
    if attempt.cancelled() or attempt.exception() is not None:
        return  # retrieved: nothing is logged for it
    conn = attempt.result()
    closer = getattr(conn, "terminate", None) or getattr(conn, "close", None)
    try:
        outcome = closer() if closer is not None else None
        if asyncio.iscoroutine(outcome):
            closing = asyncio.ensure_future(outcome)
            _closing.add(closing)  # a reference until it is done, or it may be collected
            closing.add_done_callback(_closing.discard)
    except Exception as exc:
        logger.debug("closing an abandoned connection failed: %s", exc)


def _default_timeouts(family: str, cparams: dict[str, Any], driver: str = "") -> None:
    if family == "postgresql":
        cparams.setdefault("connect_timeout" if driver == "psycopg" else "timeout", CONNECT_TIMEOUT)
    elif family == "mysql":
        cparams.setdefault("connect_timeout", CONNECT_TIMEOUT)


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig) or type(orig).__name__
    return f"{type(orig).__name__}: {text}" if not str(orig).startswith("(") else text


def _configure_sqlite(engine: Engine, url: URL) -> None:
    """Foreign keys on, WAL, a busy timeout, and BEGIN we control (so SAVEPOINT works).

    pysqlite's own transaction handling defers BEGIN and breaks savepoints; we turn it
    off and emit BEGIN IMMEDIATE for write transactions (no lock-upgrade deadlocks under
    concurrent writers) and a plain deferred BEGIN for read-only ones.

    The ``begin`` event chooses the statement (it alone sees the execution options) and
    the dialect's ``do_begin`` sends it on the driver's cursor: SQLAlchemy calls that hook
    inside its own error handling, so a failed or cancelled BEGIN is translated, and the
    connection invalidated, as any statement's would be, without a whole
    ``exec_driver_sql`` (its execution context, result and events) per transaction.
    """
    memory = is_memory_sqlite(url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if not memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "reset")
    def _on_reset(dbapi_connection: Any, record: Any, state: Any) -> None:
        # The pool's own rollback-on-return is off for SQLite (it always costs a hop to
        # aiosqlite's worker thread); roll back only what is really still open.
        if state.terminate_only or not state.asyncio_safe:
            return
        # aiosqlite behind SQLAlchemy's adapter, or the sync twin's plain sqlite3
        driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
        if not state.transaction_was_reset and driver is not None and driver.in_transaction:
            dbapi_connection.rollback()
        _sqlite_begin.pending(record.info)  # deferred and never needed: forget it
        if record.info.pop(_QUERY_ONLY, False):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA query_only = OFF")
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        conn.info.pop(_BEGIN_SQL, None)
        _sqlite_begin.pending(conn.info)
        if options.get("isolation_level") == "AUTOCOMMIT" or options.get("sqlops_autocommit"):
            return  # a single-statement read: no transaction needed
        if options.get(ENFORCE_READONLY_OPTION):
            # SQLite has no read-only transaction; query_only refuses writes on this
            # connection until the pool's reset hook (above) turns it off again. Sent on
            # the driver connection: statement listeners (count_queries) do not see it,
            # as they do not see BEGIN.
            # Flagged first: a cancellation between here and BEGIN must still find the
            # flag, or the connection would go back to the pool refusing every write.
            conn.info[_QUERY_ONLY] = True
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            cursor.execute("PRAGMA query_only = ON")
            cursor.close()
        if options.get(READONLY_OPTION):
            conn.info[_BEGIN_SQL] = "BEGIN"
        elif options.get(_sqlite_begin.DEFER_OPTION):
            conn.info[_BEGIN_SQL] = _sqlite_begin.LATER  # a db.session(): at its first write
        else:
            conn.info[_BEGIN_SQL] = "BEGIN IMMEDIATE"

    engine.dialect.do_begin = _sqlite_do_begin  # type: ignore[method-assign]
    _sqlite_begin.install(engine, _send_sqlite_begin)


def _sqlite_do_begin(dbapi_connection: Any) -> None:
    """Send the BEGIN that the ``begin`` event chose (none in autocommit) to the driver.

    aiosqlite gets it as one call on its worker thread (``execute_fetchall``), not the
    three of a cursor (open, execute, close). Cancelled while queued or running, the call
    still runs there; SQLAlchemy invalidates the connection, and the rollback that
    invalidation queues behind it (:mod:`sqlops._aiosqlite`) ends that transaction.
    """
    statement = dbapi_connection.info.pop(_BEGIN_SQL, None)
    if statement is None:
        return
    if statement == _sqlite_begin.LATER:
        _sqlite_begin.defer(dbapi_connection.info)
        return
    _send_sqlite_begin(dbapi_connection, statement)


async def send_deferred_sqlite_begin(conn: AsyncConnection) -> None:
    """Send a ``db.session()``'s deferred BEGIN IMMEDIATE now (before a write on the driver)."""
    statement = _sqlite_begin.pending(conn.sync_connection.info)  # type: ignore[union-attr]
    if statement is not None:
        await conn.run_sync(lambda sync: _send_sqlite_begin(sync.connection, statement))


def _send_sqlite_begin(dbapi_connection: Any, statement: str) -> None:
    adapted = dbapi_connection.dbapi_connection
    if hasattr(adapted, "run_async"):  # SQLAlchemy's aiosqlite adapter
        try:
            adapted.run_async(lambda aio: aio.execute_fetchall(statement))
        except ValueError as exc:  # aiosqlite's "Connection closed": a lost connection,
            raise adapted.dbapi.OperationalError(str(exc)) from exc  # as the adapter says
        return
    cursor = dbapi_connection.cursor()
    cursor.execute(statement)
    cursor.close()


def _mysql_begin(conn: Connection) -> None:
    """``transaction(readonly=True)`` on MariaDB / MySQL: START TRANSACTION READ ONLY."""
    options = conn.get_execution_options()
    if options.get(ENFORCE_READONLY_OPTION) and options.get("isolation_level") != "AUTOCOMMIT":
        conn.exec_driver_sql("START TRANSACTION READ ONLY")


# MariaDB warnings that quote a value: "Truncated incorrect INTEGER value: 'x'",
# "Duplicate entry 'x' for key ...", "Invalid utf8mb4 character string: 'x'".
_QUOTED_VALUE = re.compile(r"((?:value|entry|string)[: ]+)'(?:[^'\\]|\\.)*'", re.IGNORECASE)


class _PrimaryKeyNameNote(logging.Filter):
    """Drop MariaDB's note that a PRIMARY KEY's name is ignored; mask values in the rest.

    The naming convention names every primary key (``pk_users``) for PostgreSQL and
    migrations; MariaDB always calls it PRIMARY and says so on every CREATE TABLE.
    asyncmy logs every server warning, and some quote the value a statement was given,
    which may be personal data: it is masked, as in sqlops' own error messages.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "ignored for PRIMARY key" in message:
            return False
        masked = _QUOTED_VALUE.sub(r"\1'…'", message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


_pk_note_filter = _PrimaryKeyNameNote()


class _AiosqliteCall(logging.Filter):
    """Keep the bound values out of aiosqlite's DEBUG lines ("executing <call>").

    aiosqlite logs each call to its worker thread with the call's arguments, the
    parameters of every statement included; sqlops keeps the method and the SQL.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            call = record.args[0]
            if isinstance(call, functools.partial):
                name = getattr(call.func, "__name__", "call")
                sql = call.args[0] if call.args and isinstance(call.args[0], str) else ""
                record.args = (f"{name}({sql!r}, …)" if sql else f"{name}(…)",)
        return True


_aiosqlite_call_filter = _AiosqliteCall()


def _mysql_on_connect(dbapi_connection: Any, record: Any) -> None:
    """Strict mode (reject, never truncate, bad values) and UTC for NOW()."""
    cursor = dbapi_connection.cursor()
    cursor.execute(
        "SET SESSION sql_mode = CONCAT_WS(',', @@SESSION.sql_mode, 'STRICT_ALL_TABLES'), "
        "time_zone = '+00:00'"
    )
    cursor.close()


def lent_failure(
    exc: Exception, lost: bool, invalidate: Callable[[BaseException], None]
) -> SqlopsError | None:
    """The sqlops error for ``exc`` raised on a lent pooled connection, or None to re-raise.

    A lost connection (``lost``, or an error the translator calls unavailable) is
    invalidated with the pool's older ones (``invalidate``: :func:`invalidate_all` for a
    checked-out connection, :func:`sqlops._lane.invalidate_all` for one on the lane), as
    SQLAlchemy does on its own paths.
    """
    err = translate(exc)
    if isinstance(err, DatabaseUnavailableError) or lost:
        invalidate(exc)
        err = err or DatabaseUnavailableError(f"connection lost: {type(exc).__name__}")
    return err
