"""SQLite: a ``db.session()`` takes the write lock at its first write, not at its first read.

Write transactions begin with ``BEGIN IMMEDIATE`` (no lock-upgrade deadlocks between
writers, :func:`sqlops._dialects._configure_sqlite`). Taken when a ``db.session()``
first touches its connection, that lock made a session that only reads — a GET handler —
block every writer for as long as it stayed open. A ``db.session()`` therefore defers it:
its reads run as single statements (each sees the latest commit, as a PostgreSQL READ
COMMITTED read does), and ``BEGIN IMMEDIATE`` is sent just before its first statement that
is not a SELECT (an INSERT of a flush, a SAVEPOINT, a ``text()`` UPDATE), or
before a fast write on the driver. ``db.transaction()`` keeps its lock from the start:
there, a read followed by a write must not lose an update.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect, Engine

DEFER_OPTION = "sqlops_defer_begin"  # execution option: this session's BEGIN waits for a write
LATER = "later"  # what the begin event chooses instead of a BEGIN statement
_PENDING = "sqlops_pending_begin"  # connection info: the BEGIN due before the next write


def defer(info: dict[str, Any]) -> None:
    """Called by do_begin for ``LATER``: remember the BEGIN instead of sending it."""
    info[_PENDING] = "BEGIN IMMEDIATE"


def pending(info: dict[str, Any]) -> str | None:
    """The BEGIN still due on this connection, taken off it (the caller sends it)."""
    statement: str | None = info.pop(_PENDING, None)
    return statement


def install(engine: Engine, send: Any) -> None:
    """Send a deferred BEGIN before the first write; forget it when the transaction ends.

    ``send(dbapi_connection, statement)`` sends a BEGIN (the dialect's do_begin path).
    """
    dialect: Dialect = engine.dialect
    execute, executemany = dialect.do_execute, dialect.do_executemany
    no_params = dialect.do_execute_no_params

    def before(context: Any) -> None:
        if context is None:
            return
        root = context.root_connection
        info = root.info
        if _PENDING not in info or _is_read(context):
            return
        send(root.connection, pending(info))

    def do_execute(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        before(context)
        execute(cursor, statement, parameters, context)

    def do_executemany(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        before(context)
        executemany(cursor, statement, parameters, context)

    def do_execute_no_params(cursor: Any, statement: str, context: Any = None) -> None:
        before(context)
        no_params(cursor, statement, context)

    dialect.do_execute = do_execute  # type: ignore[method-assign]
    dialect.do_executemany = do_executemany  # type: ignore[method-assign]
    dialect.do_execute_no_params = do_execute_no_params  # type: ignore[method-assign]

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _ended(conn: Connection) -> None:
        if conn.invalidated:
            return  # its connection is gone, and its info with it
        conn.info.pop(_PENDING, None)  # a session that only read: nothing was begun


def _is_read(context: Any) -> bool:
    """A SELECT: compiled (no DML, no DDL), or text that starts with SELECT."""
    if context.is_crud or context.isddl:
        return False
    compiled = context.compiled
    if compiled is None or context.is_text:
        statement = getattr(context, "statement", None) or ""
        return str(statement).lstrip()[:7].upper() == "SELECT "
    return bool(getattr(compiled.statement, "is_select", False))
