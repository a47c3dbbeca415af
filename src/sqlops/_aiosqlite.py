"""What sqlops needs from aiosqlite's internals, in one place (each use has a test).

aiosqlite runs every call on a worker thread, one queue per connection. A call whose
awaiting task was cancelled still runs there later, and a SQLite connection that is
closed while a cursor still holds one of its statements is not closed at all: it
becomes a "zombie" that keeps its transaction, and so the database's write lock, until
the garbage collector finds that cursor (a cancelled task's traceback keeps it
alive). Every writer, in every process, then gets "database is locked".
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

logger = logging.getLogger("sqlops")


def release_locks_on_invalidate(engine: Engine) -> None:
    """Roll back on the worker thread before a connection is discarded; interrupt if busy.

    The rollback is queued behind whatever the thread still has to run (the cancelled
    call included) and ahead of the close that invalidation queues next, so the
    transaction ends, and its lock is released, even if the close leaves a zombie. If
    the thread is still busy with the cancelled statement a moment later, that
    statement is interrupted: a cancelled 10-second query would otherwise hold the
    thread, the transaction and the lock for those 10 seconds.
    """

    @event.listens_for(engine, "invalidate")
    def _rollback_first(dbapi_connection: Any, record: Any, exception: Any) -> None:
        done = queue_rollback(dbapi_connection)
        if done is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.call_later(INTERRUPT_AFTER, _interrupt_if_busy, dbapi_connection, done)


INTERRUPT_AFTER = 0.02  # seconds the worker may still be busy before it is interrupted


def _interrupt_if_busy(dbapi_connection: Any, done: threading.Event) -> None:
    if not done.is_set():
        interrupt(dbapi_connection)


def interrupt(dbapi_connection: Any) -> None:
    """Abort the statement the worker thread is running (``interrupt()`` is thread-safe).

    Only while a statement really runs: SQLite keeps the interrupt pending until no
    statement of the connection is active, so a cursor left half-read by a cancelled
    call would make it abort the rollback that must follow.
    """
    conn = getattr(getattr(dbapi_connection, "_connection", None), "_connection", None)
    if conn is not None:
        try:
            conn.interrupt()
        except Exception as exc:  # already closed
            logger.debug("interrupt before close failed: %s", exc)


def queue_rollback(dbapi_connection: Any) -> threading.Event | None:
    """Queue ``rollback()`` on the aiosqlite worker of SQLAlchemy's adapted connection.

    Returns an event set once the rollback has run, or None when the connection is not
    aiosqlite's or has no worker queue (then nothing is queued and SQLAlchemy's own
    close does what it can).
    """
    aio = getattr(dbapi_connection, "_connection", None)  # SQLAlchemy's adapter → aiosqlite
    queue = getattr(aio, "_tx", None)
    if queue is None or getattr(aio, "_connection", None) is None:
        return None
    done = threading.Event()

    def rollback() -> None:
        conn = getattr(aio, "_connection", None)
        try:
            if conn is not None and conn.in_transaction:
                conn.rollback()
        except Exception as exc:  # a statement still running; the close will follow
            logger.debug("rollback before close failed: %s", exc)
        finally:
            done.set()

    queue.put_nowait((None, rollback))
    return done
