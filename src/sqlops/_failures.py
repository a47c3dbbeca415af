"""Remember the error that ended a session's transaction, and refuse to go on after it.

After a database error inside a transaction the transaction cannot simply go on:
PostgreSQL refuses every further statement ("current transaction is aborted") and
answers COMMIT with a silent ROLLBACK; SQLAlchemy rolls a failed flush back itself and
then raises ``PendingRollbackError`` on the next use. A caller who caught the
``UniqueViolation`` would lose earlier writes or trip over a raw SQLAlchemy error. So a
sqlops session remembers the error with the transaction (or savepoint) it broke, and its
next use raises :class:`TransactionAbortedError` naming it and the fix — on every backend
alike, so code that works on SQLite in development behaves the same on PostgreSQL.

Rolling back the savepoint (or the transaction) the error happened in forgets it: that is
how ``async with db.savepoint(session):`` lets a caller go on. Nothing here costs a round
trip; the hot path pays one attribute check per session call.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from . import _runtime
from ._errors import (
    ConstraintViolation,
    DatabaseUnavailableError,
    InvalidValueError,
    ReadOnlyTransactionError,
    TransactionAbortedError,
    TransactionConflictError,
)

FAILURE_KEY = "sqlops.failure"
AnySession = AsyncSession | Session  # the sync twin's own sessions keep the same record
# The errors the database raised (translated): each one ends the transaction it hit.
_FROM_DATABASE = (
    ConstraintViolation,
    InvalidValueError,
    TransactionConflictError,
    DatabaseUnavailableError,
    ReadOnlyTransactionError,
)


def innermost(session: AnySession) -> Any:
    """The innermost transaction of ``session``: its savepoint, else its root, else None."""
    sync = getattr(session, "sync_session", session)  # the sync twin's Session is its own
    return sync.get_nested_transaction() or sync.get_transaction()


def note(
    session: AnySession, exc: BaseException, before: Any, *, from_database: bool = True
) -> None:
    """Remember ``exc`` if it came from the database and broke the session's transaction.

    ``before`` is :func:`innermost` from before the failing call: a flush that failed in a
    savepoint has already rolled that savepoint back, and the failure must die with it.
    ``from_database=False`` notes a violation sqlops found itself (MariaDB's upsert).
    """
    if session.info.get(FAILURE_KEY) is not None and pending(session) is not None:
        return  # keep the first error: it is the cause
    if not isinstance(exc, _FROM_DATABASE) or (from_database and exc.__cause__ is None):
        return  # raised by sqlops before anything was sent, or by a guard
    tx = (
        before
        if before is not None
        else getattr(session, "sync_session", session).get_transaction()
    )
    if tx is None:
        return
    session.info[FAILURE_KEY] = (exc, tx)


def pending(session: AnySession) -> BaseException | None:
    """The error that broke a transaction ``session`` is still in, if any."""
    recorded = session.info.get(FAILURE_KEY)
    if recorded is None:
        return None
    exc, broken = recorded
    tx = innermost(session)
    while tx is not None:
        if tx is broken:
            return exc  # type: ignore[no-any-return]
        tx = tx.parent
    del session.info[FAILURE_KEY]  # that savepoint / transaction was rolled back
    return None


def aborted(
    exc: BaseException | None, op: str, *, sync: bool | None = None
) -> TransactionAbortedError:
    """The error for using a session whose transaction ``exc`` ended (``op``: what was tried).

    ``sync``: whether to show the sync twin's ``with`` (default: when it drives us)."""
    block = "with" if (_runtime.blocking() if sync is None else sync) else "async with"
    earlier = f"an earlier error ({type(exc).__name__}: {exc})" if exc else "an earlier error"
    doing = op if " " in op else f"session.{op}()"
    return TransactionAbortedError(
        f"{doing} after {earlier} ended this transaction: it cannot go on, and "
        "nothing in it will be committed. Roll back, or run the write that may fail in "
        f"`{block} db.savepoint(session):` and "
        "catch the error outside that block to go on",
        error=exc,
    )


def check(session: AnySession, op: str, *, sync: bool | None = None) -> None:
    """Raise :class:`TransactionAbortedError` if an error ended the session's transaction."""
    if FAILURE_KEY in session.info:
        exc = pending(session)
        if exc is not None:
            raise aborted(exc, op, sync=sync)
