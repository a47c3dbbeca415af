"""Per-backend connection set-up: what every new connection needs before first use."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Dialect, Engine

from ._errors import DatabaseUnavailableError
from ._url import is_memory_sqlite, safe_url

SQLITE_BUSY_TIMEOUT_MS = 5000
CONNECT_TIMEOUT = 10
# A PostgreSQL connection idle longer than this is pinged before use; a younger one is
# trusted unless asyncpg already saw the server close it.
PING_IDLE_AFTER = 10.0
_IDLE_SINCE = "sqlops_idle_since"


def configure_engine(engine: Engine, family: str, url: URL) -> None:
    """Attach the connect / begin hooks ``family`` needs to ``engine``."""
    target = safe_url(url)

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Dialect, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        _default_timeouts(family, cparams)
        if family == "sqlite":
            _check_sqlite_directory(url, target)
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            raise DatabaseUnavailableError(f"cannot connect to {target}: {_reason(exc)}") from exc

    if family == "sqlite":
        _configure_sqlite(engine, url)
    elif family == "mysql":
        event.listen(engine, "connect", _mysql_on_connect)
        for name in ("asyncmy", "aiomysql"):
            logging.getLogger(name).addFilter(_pk_note_filter)  # a set: adding twice is a no-op
    elif (
        family == "postgresql" and url.get_driver_name() == "asyncpg" and not engine.pool._pre_ping
    ):
        _configure_liveness(engine)


def _configure_liveness(engine: Engine) -> None:
    """Replace dead pooled connections before use, without a round trip per checkout.

    ``pool_pre_ping`` costs one round trip on every checkout — as much as the query on a
    primary-key read. asyncpg reads its socket continuously, so a backend the server
    terminated (restart, failover, ``pg_terminate_backend``, idle kill) shows up as
    ``is_closed()`` at no cost; only connections idle for a while (where a silent
    network drop is possible) are really pinged. A connection found dead is replaced
    by the pool (``DisconnectionError``).
    """

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is None or driver.is_closed():
            raise sa_exc.DisconnectionError("the server closed this connection")
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is not None and time.monotonic() - idle_since > PING_IDLE_AFTER:
            try:
                engine.dialect.do_ping(dbapi_connection)
            except Exception as exc:
                raise sa_exc.DisconnectionError("ping failed on an idle connection") from exc


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


def _default_timeouts(family: str, cparams: dict[str, Any]) -> None:
    if family == "postgresql":
        cparams.setdefault("timeout", CONNECT_TIMEOUT)
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

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT" or options.get("sqlops_autocommit"):
            return  # a single-statement read: no transaction needed
        readonly = options.get("sqlops_readonly")
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


class _PrimaryKeyNameNote(logging.Filter):
    """Drop MariaDB's note that a PRIMARY KEY's name is ignored.

    The naming convention names every primary key (``pk_users``) for PostgreSQL and
    migrations; MariaDB always calls it PRIMARY and says so on every CREATE TABLE.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "ignored for PRIMARY key" not in record.getMessage()


_pk_note_filter = _PrimaryKeyNameNote()


def _mysql_on_connect(dbapi_connection: Any, record: Any) -> None:
    """Strict mode (reject, never truncate, bad values) and UTC for NOW()."""
    cursor = dbapi_connection.cursor()
    cursor.execute(
        "SET SESSION sql_mode = CONCAT_WS(',', @@SESSION.sql_mode, 'STRICT_ALL_TABLES'), "
        "time_zone = '+00:00'"
    )
    cursor.close()
