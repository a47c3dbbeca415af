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

The session guard costs one extra coroutine frame per session call (about a microsecond,
see docs/guards.md); the others cost nothing until they have something to report.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import traceback
import warnings
import weakref
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Literal, TypeVar

import greenlet
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction
from sqlalchemy.orm import ORMExecuteState, Session

from . import _failures
from ._errors import LazyLoadError, SessionMisuseError, SqlopsError
from ._session import SqlopsSession

T = TypeVar("T")
NPlusOne = Literal["raise", "warn", "off"]
LeakedSessions = Literal["warn", "off"]

N_PLUS_ONE_MODES = ("raise", "warn", "off")
LEAKED_SESSIONS_MODES = ("warn", "off")
N_PLUS_ONE_KEY = "sqlops.n_plus_one"
LOOP_KEY = "sqlops.loop"
_LOADS_KEY = "sqlops.n_plus_one.loads"

# Two parents are enough: the same line loading the same relationship for two different
# rows runs once per row, so its query count grows with the data. Test data is small;
# a higher threshold would miss exactly the N+1s a test suite exists to catch.
N_PLUS_ONE_THRESHOLD = 2


class NPlusOneError(LazyLoadError):
    """A relationship was lazy-loaded once per parent row (an N+1 query pattern)."""


class NPlusOneWarning(UserWarning):
    """``n_plus_one="warn"``: the N+1 pattern was seen, and allowed."""


class SessionLeakWarning(UserWarning):
    """A session was never closed (reported when its Database is disposed)."""


# ----------------------------------------------------------------------------- call sites

# Frames of these modules are never "your code": SQLAlchemy, sqlops itself (the testing
# plugin included), the async drivers, and the machinery between them and you.
_LIBRARIES = (
    *("sqlalchemy", "sqlops", "greenlet", "asyncio", "contextlib", "functools", "anyio"),
    *("asyncpg", "asyncmy", "aiomysql", "aiosqlite", "psycopg"),
)
_LIBRARY_PACKAGES = tuple(f"{name}." for name in _LIBRARIES)


def _is_user_frame(frame: FrameType) -> bool:
    module = frame.f_globals.get("__name__", "")
    return not (module in _LIBRARIES or module.startswith(_LIBRARY_PACKAGES))


def user_frame() -> FrameType | None:
    """The innermost frame of application code in the running task (or thread).

    Inside ``greenlet_spawn`` the caller's coroutine frames are on the parent greenlet's
    stack, so when the current one holds only library frames we continue there. The walk
    stops at the task's own coroutine: beyond it lie the event loop and whatever started
    it, which say nothing about where the call came from.
    """
    top = getattr(_current_task_coro(), "cr_frame", None)
    frame: FrameType | None = sys._getframe(1)
    current: Any = greenlet.getcurrent()
    while True:
        while frame is not None:
            if _is_user_frame(frame):
                return frame
            if frame is top:
                return None
            frame = frame.f_back
        current = current.parent
        if current is None:
            return None
        frame = current.gr_frame


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop: plain sync code
        return None


def _current_task_coro() -> Any:
    task = _current_task()
    return task.get_coro() if task is not None else None


def _where(frame: FrameType | None) -> str:
    if frame is None:
        return "an unknown place"
    return f"{_short_path(frame.f_code.co_filename)}:{frame.f_lineno}"


def _short_path(path: str) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return path if relative.startswith("..") else relative


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


# ----------------------------------------------------------------------------- one loop


def watch_loop(engine: Engine, owner: str) -> None:
    """Remember which event loop opened each of ``engine``'s connections.

    Only for drivers whose connections are tied to a loop (asyncpg, asyncmy, ...);
    aiosqlite's run in a thread and work from any loop.
    """

    def remember(dbapi_connection: Any, record: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # connected outside any loop
            return
        record.info[LOOP_KEY] = (weakref.ref(loop), owner)

    event.listen(engine, "connect", remember)


def check_loop(record: Any) -> None:
    """Refuse a pooled connection that another event loop opened (called at checkout)."""
    remembered = record.info.get(LOOP_KEY)
    if remembered is None:
        return
    try:
        current = asyncio.get_running_loop()
    except RuntimeError:
        return
    ref, owner = remembered
    if ref() is not current:
        raise SessionMisuseError(
            f"{owner} was used from a second event loop: its pooled connections were "
            f"opened by another loop ({_loop_state(ref())}), and a driver connection "
            "belongs to the loop that opened it. Create the Database inside the loop that "
            "uses it (e.g. in the app's lifespan), or `await db.dispose()` before that loop "
            "ends (asyncio.run() ends its loop when it returns); in pytest use the sqlops "
            "fixtures, which keep one engine per event loop"
        )


def _check_session_loop(
    session: AsyncSession, loop: asyncio.AbstractEventLoop
) -> asyncio.AbstractEventLoop:
    """Refuse a session bound to a connection that another event loop opened.

    Called on a session's first call in each loop (an identity check otherwise). Only a
    session bound to one connection (the test-transaction recipe) can carry it across
    loops; sessions on an engine get their connection from the pool, checked there.
    """
    bind = session.sync_session.bind
    if not isinstance(bind, Connection) or bind.closed or bind.invalidated:
        return loop
    remembered = bind.connection.info.get(LOOP_KEY)
    if remembered is not None and remembered[0]() is not loop:
        raise SessionMisuseError(
            "this session is bound to a connection opened by another event loop "
            f"({_loop_state(remembered[0]())}); it can only be used in that loop. In "
            "pytest-asyncio, give the fixture that opens it the test's loop scope "
            "(@pytest_asyncio.fixture(loop_scope=...), or asyncio_default_fixture_loop_scope)"
        )
    return loop


def _loop_state(loop: asyncio.AbstractEventLoop | None) -> str:
    return "now closed" if loop is None or loop.is_closed() else "still open"


# ----------------------------------------------------------------------------- leaks


class SessionTracker:
    """Remember where each session was opened until it is closed; report the rest."""

    def __init__(self) -> None:
        self._open: dict[int, tuple[weakref.ref[Any], traceback.StackSummary]] = {}
        self._collected: list[traceback.StackSummary] = []

    def opened(self, session: AsyncSession | Session) -> None:
        key = id(session)
        ref = weakref.ref(session, lambda _: self._forget(key, collected=True))
        self._open[key] = (ref, _opening_stack())

    def closed(self, session: AsyncSession | Session) -> None:
        self._forget(id(session), collected=False)

    def _forget(self, key: int, *, collected: bool) -> None:
        entry = self._open.pop(key, None)
        if entry is not None and collected:
            self._collected.append(entry[1])

    def leaks(self) -> list[traceback.StackSummary]:
        """Where every session that was never closed was opened."""
        return [stack for _, stack in self._open.values()] + self._collected

    def report(self, owner: str) -> None:
        """Warn once about every leaked session, then forget them."""
        stacks = self.leaks()
        self._open.clear()
        self._collected.clear()
        if stacks:
            warnings.warn(_leak_message(owner, stacks), SessionLeakWarning, stacklevel=3)


def _opening_stack() -> traceback.StackSummary:
    """The innermost few frames of application code (paths relative to the cwd)."""
    frames = [(f, f.f_lineno) for f, _ in traceback.walk_stack(None) if _is_user_frame(f)]
    frames.reverse()
    stack = traceback.StackSummary.extract(iter(frames[-4:]), capture_locals=False)
    for summary in stack:
        summary.filename = _short_path(summary.filename)
    return stack


def _leak_message(owner: str, stacks: list[traceback.StackSummary]) -> str:
    fix = (  # the sync twin's Database names itself "sync.Database(...)"
        "`with db.session()` / `db.transaction()`, and contextlib.closing()"
        if owner.startswith("sync.")
        else "`async with db.session()` / `db.transaction()`, and contextlib.aclosing()"
    )
    lines = [
        f"{len(stacks)} session(s) of {owner} were never closed; each held its connection "
        f"and transaction until garbage collection. Use {fix} around a Repository.stream() "
        "you stop early."
    ]
    for number, stack in enumerate(stacks, 1):
        lines.append(f"  session {number} opened at:")
        lines.extend(_indent(stack.format()))
    return "\n".join(lines)


def _indent(chunks: list[str]) -> Iterator[str]:
    for chunk in chunks:
        for line in chunk.rstrip("\n").splitlines():
            yield "    " + line
