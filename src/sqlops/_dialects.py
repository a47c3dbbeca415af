"""Per-backend connection set-up: what every new connection needs before first use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Dialect, Engine

from ._errors import DatabaseUnavailableError
from ._url import is_memory_sqlite, safe_url

SQLITE_BUSY_TIMEOUT_MS = 5000
CONNECT_TIMEOUT = 10


def configure_engine(engine: Engine, family: str, url: URL) -> None:
    """Attach the connect / begin hooks ``family`` needs to ``engine``."""
    target = safe_url(url)

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Dialect, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        _default_timeouts(family, cparams)
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            raise DatabaseUnavailableError(f"cannot connect to {target}: {_reason(exc)}") from exc

    if family == "sqlite":
        _configure_sqlite(engine, url)
    elif family == "mysql":
        event.listen(engine, "connect", _mysql_on_connect)


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
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        readonly = options.get("sqlops_readonly")
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def _mysql_on_connect(dbapi_connection: Any, record: Any) -> None:
    """Strict mode (reject, never truncate, bad values) and UTC for NOW()."""
    cursor = dbapi_connection.cursor()
    cursor.execute(
        "SET SESSION sql_mode = CONCAT_WS(',', @@SESSION.sql_mode, 'STRICT_ALL_TABLES'), "
        "time_zone = '+00:00'"
    )
    cursor.close()
