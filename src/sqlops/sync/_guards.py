"""One thread, one session: the sync twin of the async one-task-per-session guard.

A ``Session`` is one connection and one unit of work. Two threads inside it at once
interleave statements on one connection, or fail later with "Session is already
flushing"; this session refuses the second thread at once with
:class:`SessionMisuseError`, naming both calls. Sharing a session *sequentially* between
threads is allowed, as in the async guard.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc

from sqlops import _failures
from sqlops._errors import SessionMisuseError, SqlopsError
from sqlops._guards import SessionTracker
from sqlops._session import SqlopsSession

T = TypeVar("T")

_GUARDED = (
    *("execute", "scalars", "scalar", "get", "get_one", "flush", "commit", "rollback"),
    *("refresh", "merge", "connection", "close", "delete", "reset", "invalidate"),
)
_CLOSING = frozenset({"close", "reset", "invalidate"})


class ThreadGuardedSession(SqlopsSession):
    """A ``SqlopsSession`` that refuses to be inside two threads' calls at once.

    The owner is claimed with ``dict.setdefault``, atomic in CPython: no lock on the
    path every session call takes.
    """

    _sqlops_op = ""
    _sqlops_depth = 0
    _sqlops_tracker: SessionTracker | None = None

    def __init__(self, *args: Any, sqlops_tracker: SessionTracker | None = None, **kw: Any):
        super().__init__(*args, **kw)
        if sqlops_tracker is not None:  # leaked_sessions="warn": remember where it opened
            self._sqlops_tracker = sqlops_tracker
            sqlops_tracker.opened(self)

    def _sqlops_enter(self, op: str) -> None:
        me = threading.get_ident()
        owner = self.__dict__.setdefault("_sqlops_owner", me)
        if owner != me:
            raise SessionMisuseError(
                f"one Session used by two threads at once: session.{op}() was called "
                f"while another thread is still inside session.{self._sqlops_op}(). A "
                "session is one connection and one unit of work: give each thread its "
                "own (with db.session() as s: ...)"
            )
        if not self._sqlops_depth:
            self._sqlops_op = op
        self._sqlops_depth += 1

    def _sqlops_exit(self) -> None:
        self._sqlops_depth -= 1
        if self._sqlops_depth <= 0:
            self.__dict__.pop("_sqlops_owner", None)

    def begin_nested(self) -> Any:
        """``Session.begin_nested()``, refused after an error ended the transaction; as a
        ``with`` block, an error swallowed inside it is reported when the block ends."""
        _failures.check(self, "begin_nested", sync=True)
        return _SavepointBlock(self, super().begin_nested())


class _SavepointBlock:
    """A ``SessionTransaction`` for a SAVEPOINT whose ``with`` block reports what it hid.

    A database error caught inside the block broke the savepoint: releasing it would fail
    (PostgreSQL) or keep half a change; it is rolled back instead and the block raises
    :class:`TransactionAbortedError`, as the async API's ``begin_nested()`` does.
    """

    __slots__ = ("__weakref__", "_session", "_transaction")

    def __init__(self, session: ThreadGuardedSession, transaction: Any) -> None:
        self._session = session
        self._transaction = transaction

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transaction, name)

    def __enter__(self) -> Any:
        return self._transaction.__enter__()

    def __exit__(self, type_: Any, value: Any, traceback: Any) -> Any:
        failure = _failures.pending(self._session) if type_ is None else None
        if failure is not None:
            error = _failures.aborted(failure, "leaving the savepoint block", sync=True)
            self._transaction.__exit__(type(error), error, error.__traceback__)
            raise error
        return self._transaction.__exit__(type_, value, traceback)


def _guarded(name: str) -> Callable[..., Any]:
    """``Session.<name>`` under the one-thread rule, and, as the async session does,
    refused after a database error ended the transaction (:mod:`sqlops._failures`)."""
    method = getattr(SqlopsSession, name)
    enter, exit_ = ThreadGuardedSession._sqlops_enter, ThreadGuardedSession._sqlops_exit

    closing = name in _CLOSING
    checked = not closing and name != "rollback"  # rolling back is how a failed one ends

    @functools.wraps(method)
    def call(self: ThreadGuardedSession, *args: Any, **kwargs: Any) -> Any:
        enter(self, name)
        before = None
        try:
            if checked:
                _failures.check(self, name, sync=True)
                before = _failures.innermost(self)
            result = method(self, *args, **kwargs)
        except sa_exc.PendingRollbackError as exc:
            earlier = _failures.pending(self) or exc.__cause__
            raise _failures.aborted(earlier, name, sync=True) from exc
        except SqlopsError as exc:
            if checked:
                _failures.note(self, exc, before)
            raise
        finally:
            exit_(self)
        if closing and self._sqlops_tracker is not None:
            self._sqlops_tracker.closed(self)
        return result

    return call


def _adding(name: str) -> Callable[..., Any]:
    """``add`` / ``add_all``: new work for a transaction that cannot go on is refused."""
    method = getattr(SqlopsSession, name)

    @functools.wraps(method)
    def call(self: ThreadGuardedSession, *args: Any, **kwargs: Any) -> Any:
        _failures.check(self, name, sync=True)
        return method(self, *args, **kwargs)

    return call


for _name in _GUARDED:
    setattr(ThreadGuardedSession, _name, _guarded(_name))
for _name in ("add", "add_all"):
    setattr(ThreadGuardedSession, _name, _adding(_name))
