"""What sqlops needs from aiosqlite's internals, in one place (each use has a test).

aiosqlite runs every call on a worker thread, one queue per connection. A call whose
awaiting task was cancelled still runs there later, and a SQLite connection that is
closed while a cursor still holds one of its statements is not closed at all: it
becomes a "zombie" that keeps its transaction, and so the database's write lock, until
the garbage collector finds that cursor (a cancelled task's traceback keeps it
alive). Every writer, in every process, then gets "database is locked".
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

logger = logging.getLogger("sqlops")


def release_locks_on_invalidate(engine: Engine) -> None:
    """Interrupt, then roll back on the worker thread, before a connection is discarded.

    The rollback is queued behind whatever the thread still has to run (the cancelled
    call included) and ahead of the close that invalidation queues next, so the
    transaction ends, and its lock is released, even if the close leaves a zombie.
    """

    @event.listens_for(engine, "invalidate")
    def _rollback_first(dbapi_connection: Any, record: Any, exception: Any) -> None:
        interrupt(dbapi_connection)
        queue_rollback(dbapi_connection)


def interrupt(dbapi_connection: Any) -> None:
    """Abort the statement the worker thread is running, if any (thread-safe in sqlite3).

    A cancelled 10-second query would otherwise hold the thread, the transaction and
    the write lock, and delay the close of its connection, for those 10 seconds.
    """
    conn = getattr(getattr(dbapi_connection, "_connection", None), "_connection", None)
    if conn is not None:
        try:
            conn.interrupt()
        except Exception as exc:  # already closed
            logger.debug("interrupt before close failed: %s", exc)


def queue_rollback(dbapi_connection: Any) -> bool:
    """Queue ``rollback()`` on the aiosqlite worker of SQLAlchemy's adapted connection.

    Returns False when the connection is not aiosqlite's or has no worker queue (then
    nothing is queued and SQLAlchemy's own close does what it can).
    """
    aio = getattr(dbapi_connection, "_connection", None)  # SQLAlchemy's adapter → aiosqlite
    queue = getattr(aio, "_tx", None)
    if queue is None or getattr(aio, "_connection", None) is None:
        return False

    def rollback() -> None:
        conn = getattr(aio, "_connection", None)
        if conn is not None and conn.in_transaction:
            try:
                conn.rollback()
            except Exception as exc:  # a statement still running; the close will follow
                logger.debug("rollback before close failed: %s", exc)

    queue.put_nowait((None, rollback))
    return True
