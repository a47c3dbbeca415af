"""Runtime guards for the async mistakes that only show at run time.

* **N+1 detector** — the same relationship lazy-loaded, one query per parent row, from
  the same line of code: :class:`NPlusOneError` (or :class:`NPlusOneWarning`) naming the
  relationship, the count and ``load=[...]``.
* **One task, one session** — an ``AsyncSession`` entered by a second task while the first
  is still inside a call: :class:`SessionMisuseError` naming both tasks' coroutines, instead
  of SQLAlchemy silently queueing the call or failing later with "Session is already
  flushing".
* **One loop, one engine** — a pooled connection opened by one event loop handed out on
  another: :class:`SessionMisuseError` instead of "attached to a different loop".
* **Leak report** — sessions never closed, listed with where they were opened when the
  :class:`Database` is disposed (:class:`SessionLeakWarning`).

The loop guard is in ``_loopguard``, the leak report in ``_leaks``, the call-site helpers
they share in ``_callsites``; this module re-exports their names.

The session guard costs one extra coroutine frame per session call (about a microsecond,
see docs/guards.md); the others cost nothing until they have something to report.
"""

from __future__ import annotations

import asyncio
import functools
import warnings
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Literal, TypeVar

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction
from sqlalchemy.orm import ORMExecuteState

from . import _failures, _internals
from ._callsites import (
    _current_task,
    _is_user_frame,
    _where,
    user_frame,
)
from ._errors import LazyLoadError, SessionMisuseError, SqlopsError
from ._leaks import (
    SessionLeakWarning as SessionLeakWarning,
)
from ._leaks import (
    SessionTracker as SessionTracker,
)
from ._loopguard import (
    LOOP_KEY as LOOP_KEY,
)
from ._loopguard import (
    _check_session_loop,
)
from ._loopguard import (
    check_loop as check_loop,
)
from ._loopguard import (
    watch_loop as watch_loop,
)
from ._session import SqlopsSession

T = TypeVar("T")
NPlusOne = Literal["raise", "warn", "off"]
LeakedSessions = Literal["warn", "off"]

N_PLUS_ONE_MODES = ("raise", "warn", "off")
LEAKED_SESSIONS_MODES = ("warn", "off")
N_PLUS_ONE_KEY = "sqlops.n_plus_one"
_LOADS_KEY = "sqlops.n_plus_one.loads"

# Two parents are enough: the same line loading the same relationship for two different
# rows runs once per row, so its query count grows with the data. Test data is small;
# a higher threshold would miss exactly the N+1s a test suite exists to catch.
N_PLUS_ONE_THRESHOLD = 2


class NPlusOneError(LazyLoadError):
    """A relationship was lazy-loaded once per parent row (an N+1 query pattern)."""


class NPlusOneWarning(UserWarning):
    """``n_plus_one="warn"``: the N+1 pattern was seen, and allowed."""


# ----------------------------------------------------------------------------- N+1


@dataclass
class _Loads:
    parents: set[Any] = field(default_factory=set)
    reported: bool = False


def _detect_n_plus_one(state: ORMExecuteState) -> None:
    """``do_orm_execute`` hook: count lazy loads per (relationship, call site) in a session.

    The lazy-load guard (``_lazyload``) already stopped implicit loads outside a
    greenlet; what reaches here is an explicit load (``awaitable_attrs``, ``refresh``,
    ``run_sync``) or an allowed implicit one, and those are what an N+1 loop is made of.
    """
    info = state.session.info
    mode = info.get(N_PLUS_ONE_KEY)
    if mode is None or mode == "off":
        return
    parent = state.lazy_loaded_from
    path = state.loader_strategy_path
    if parent is None or path is None or not path.path or not state.is_relationship_load:
        return
    prop = path.path[-1]
    owner = getattr(getattr(prop, "parent", None), "class_", parent.class_)
    key = getattr(prop, "key", "?")
    site = user_frame()
    loads: dict[Any, _Loads] = info.setdefault(_LOADS_KEY, {})
    where = (owner, key, site.f_code if site else None, site.f_lineno if site else None)
    entry = loads.setdefault(where, _Loads())
    entry.parents.add(parent.key or id(parent))
    if len(entry.parents) < N_PLUS_ONE_THRESHOLD or (mode == "warn" and entry.reported):
        return
    entry.reported = True
    message = _n_plus_one_message(owner.__name__, key, len(entry.parents), site)
    if mode == "raise":
        raise NPlusOneError(message)
    if site is None:
        warnings.warn(message, NPlusOneWarning, stacklevel=2)
    else:
        warnings.warn_explicit(
            message,
            NPlusOneWarning,
            site.f_code.co_filename,
            site.f_lineno,
            module_globals=site.f_globals,
        )


def _n_plus_one_message(owner: str, key: str, count: int, site: FrameType | None) -> str:
    return (
        f"N+1 queries: {owner}.{key} was lazy-loaded separately for {count} {owner} rows "
        f"at {_where(site)}, one query per row. Load it with the parents instead: "
        f"load=['{key}'] on the repository call, or "
        f".options(selectinload({owner}.{key})) on the select()"
    )


_installed = False


def install() -> None:
    """Install the N+1 detector once per process (idempotent); inert where mode is off."""
    global _installed
    if not _installed:
        _installed = True
        event.listen(SqlopsSession, "do_orm_execute", _detect_n_plus_one)


# ----------------------------------------------------------------------------- one task


def _task_label(task: asyncio.Task[Any] | None, frame: FrameType | None) -> str:
    if task is None:
        return "code outside any task"
    coro = task.get_coro()
    name = getattr(coro, "__qualname__", None) or type(coro).__name__
    where = f" at {_where(frame)}" if frame is not None else ""
    return f"task {task.get_name()!r} (coroutine {name}(){where})"


def _suspended_user_frame(task: asyncio.Task[Any]) -> FrameType | None:
    """Where in application code a suspended ``task`` waits: the innermost such frame."""
    found = None
    awaiting: Any = task.get_coro()
    while awaiting is not None:
        frame = getattr(awaiting, "cr_frame", None)
        if frame is not None and _is_user_frame(frame):
            found = frame
        awaiting = getattr(awaiting, "cr_await", None)
    return found


def _conflict_message(
    owner: asyncio.Task[Any], owner_op: str, task: asyncio.Task[Any] | None, op: str
) -> str:
    return (
        f"one AsyncSession used by two tasks at once: {_task_label(task, user_frame())} "
        f"called session.{op}() while {_task_label(owner, _suspended_user_frame(owner))} "
        f"is still inside session.{owner_op}(). A session is one connection and one unit "
        "of work and is not safe for concurrent use: give each task its own session "
        "(async with db.session() as s: ...), or await the calls one after another "
        "instead of in asyncio.gather()/create_task()"
    )


class GuardedAsyncSession(AsyncSession):
    """An ``AsyncSession`` that refuses to be used by two tasks at the same time.

    Its sync sessions are :class:`SqlopsSession`, which carries the guards' hooks.

    Every coroutine method marks the session as busy for the calling task until it
    returns; a second task arriving meanwhile gets :class:`SessionMisuseError` before
    anything touches the connection, so the first task's work is not disturbed. Sharing a
    session *sequentially* between tasks is allowed.
    """

    sync_session_class = SqlopsSession

    _sqlops_owner: asyncio.Task[Any] | None = None
    _sqlops_loop: asyncio.AbstractEventLoop | None = None
    _sqlops_op = ""
    _sqlops_depth = 0
    _sqlops_tracker: SessionTracker | None = None

    def __init__(self, *args: Any, sqlops_tracker: SessionTracker | None = None, **kw: Any):
        super().__init__(*args, **kw)
        if sqlops_tracker is not None:
            self._sqlops_tracker = sqlops_tracker
            sqlops_tracker.opened(self)

    def _sqlops_enter(self, op: str) -> None:
        task = asyncio.current_task()
        owner = self._sqlops_owner
        if owner is None:
            if task is not None and task.get_loop() is not self._sqlops_loop:
                self._sqlops_loop = _check_session_loop(self, task.get_loop())
            self._sqlops_owner, self._sqlops_op, self._sqlops_depth = task, op, 1
        elif owner is task:
            self._sqlops_depth += 1
        else:
            raise SessionMisuseError(_conflict_message(owner, self._sqlops_op, task, op))

    def _sqlops_check(self, op: str) -> None:
        """For the synchronous methods: refuse while another task is inside a call."""
        owner = self._sqlops_owner
        if owner is not None:
            task = _current_task()
            if owner is not task:
                raise SessionMisuseError(_conflict_message(owner, self._sqlops_op, task, op))

    def _sqlops_exit(self) -> None:
        self._sqlops_depth -= 1
        if self._sqlops_depth <= 0:
            self._sqlops_owner = None

    async def _sqlops_guarded(self, op: str, call: Coroutine[Any, Any, T]) -> T:
        try:
            self._sqlops_enter(op)
        except BaseException:
            call.close()
            raise
        try:
            return await call
        finally:
            self._sqlops_exit()

    async def close(self) -> None:
        await self._sqlops_guarded("close", super().close())
        self._sqlops_closed()

    async def reset(self) -> None:
        await self._sqlops_guarded("reset", super().reset())
        self._sqlops_closed()

    async def invalidate(self) -> None:
        await self._sqlops_guarded("invalidate", super().invalidate())
        self._sqlops_closed()

    def _sqlops_close_idle(self) -> bool:
        """Close now, without a greenlet hop, if no transaction is left to end (after a
        commit): the in-memory part of ``close()``. False: nothing was done, call it."""
        if not _internals.holds_no_connection(self.sync_session):
            return False
        try:
            self._sqlops_enter("close")
        except SessionMisuseError:
            return False  # the ordinary close() says so
        try:
            self.sync_session.close()
        finally:
            self._sqlops_exit()
        self._sqlops_closed()
        return True

    def _sqlops_closed(self) -> None:
        if self._sqlops_tracker is not None:
            self._sqlops_tracker.closed(self)

    def begin(self) -> AsyncSessionTransaction:
        return _GuardedTransaction(self)

    def begin_nested(self) -> AsyncSessionTransaction:
        return _GuardedTransaction(self, nested=True)


def _guarded(name: str) -> Callable[..., Any]:
    method = getattr(AsyncSession, name)
    checked = name != "rollback"  # rolling back is how a failed transaction ends

    @functools.wraps(method)
    async def guarded(self: GuardedAsyncSession, *args: Any, **kwargs: Any) -> Any:
        self._sqlops_enter(name)
        before = None
        try:
            if checked:
                _failures.check(self, name)
                before = _failures.innermost(self)
            return await method(self, *args, **kwargs)
        except sa_exc.PendingRollbackError as exc:
            raise _failures.aborted(_failures.pending(self) or exc.__cause__, name) from exc
        except SqlopsError as exc:
            if checked:
                _failures.note(self, exc, before)
            raise
        finally:
            self._sqlops_exit()

    return guarded


def _checked(name: str) -> Callable[..., Any]:
    method = getattr(AsyncSession, name)

    adds = name in ("add", "add_all")  # new work for a transaction that cannot go on

    @functools.wraps(method)
    def checked(self: GuardedAsyncSession, *args: Any, **kwargs: Any) -> Any:
        self._sqlops_check(name)
        if adds:
            _failures.check(self, name)
        return method(self, *args, **kwargs)

    return checked


# Synchronous methods that change what the next flush writes.
for _name in ("add", "add_all", "expunge", "expunge_all", "expire", "expire_all"):
    setattr(GuardedAsyncSession, _name, _checked(_name))

_GUARDED_METHODS = [
    "execute",
    "scalar",
    "scalars",
    "get",
    "get_one",
    "stream",
    "stream_scalars",
    "delete",
    "delete_all",
    "merge",
    "merge_all",
    "flush",
    "refresh",
    "run_sync",
    "connection",
    "commit",
    "rollback",
]
for _name in _GUARDED_METHODS:
    if hasattr(AsyncSession, _name):  # delete_all / merge_all are new in SQLAlchemy 2.1
        setattr(GuardedAsyncSession, _name, _guarded(_name))


class _GuardedTransaction(AsyncSessionTransaction):
    """``session.begin()`` / ``begin_nested()`` under the same one-task rule."""

    __slots__ = ()
    session: GuardedAsyncSession

    async def start(self, is_ctxmanager: bool = False) -> AsyncSessionTransaction:
        name = "begin_nested" if self.nested else "begin"
        _failures.check(self.session, name)
        return await self.session._sqlops_guarded(name, super().start(is_ctxmanager))

    async def commit(self) -> None:
        _failures.check(self.session, "commit")
        await self.session._sqlops_guarded("commit", super().commit())

    async def rollback(self) -> None:
        await self.session._sqlops_guarded("rollback", super().rollback())

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        name = "begin_nested().__aexit__" if self.nested else "begin().__aexit__"
        failure = _failures.pending(self.session) if type_ is None else None
        if failure is not None:
            # the block swallowed an error that broke this savepoint / transaction:
            # roll it back (never RELEASE / COMMIT it) and say why
            doing = "leaving the savepoint block" if self.nested else "leaving begin()"
            error = _failures.aborted(failure, doing)
            await self.session._sqlops_guarded(
                name, super().__aexit__(type(error), error, error.__traceback__)
            )
            raise error
        await self.session._sqlops_guarded(name, super().__aexit__(type_, value, traceback))
