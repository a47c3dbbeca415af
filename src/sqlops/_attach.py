"""The fast routes inside an injected session: its connection, its identity map.

A fast read in a caller's session runs on the session's own connection (so it sees the
transaction's writes and takes its locks) and hands back what ``session.scalars()``
would: for a row whose identity the session holds, that very object, unchanged; for a
new one, an instance entered into the session as persistent, its loaded values its
committed state. The one-task guard and the aborted-transaction check run as for any
session call: the guard is held for the whole statement (:func:`claim`), and the
connection is the one ``session.connection()`` gives (:func:`connection`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar, overload

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Mapper, attributes

from . import (
    _dialects,
    _failures,
    _guards,
    _internals,
    _lazyload,
    _psycopg,
    _runtime,
    _templates,
)
from ._errors import DatabaseUnavailableError
from ._fastread import ReadPlan
from ._transaction import quietly

T = TypeVar("T")
ABSENT = object()  # the session holds no object of that identity
EXPIRED = object()  # it holds one whose attributes must be loaded again

# sqlops' own do_orm_execute hooks look at lazy loads only, never at a top-level read
_OWN_HOOKS = frozenset({_lazyload._guard_execute, _guards._detect_n_plus_one})


def session_ready(session: AsyncSession) -> bool:
    """Whether a fast read gives exactly what the ORM route would in ``session``.

    Not when it holds unflushed changes (the ORM route autoflushes them first, or, with
    autoflush off, would answer from them), nor when the application listens to the
    session's ORM executions or loads: those hooks must run.
    """
    sync = session.sync_session
    if _internals.has_pending(sync):
        return False
    dispatch = sync.dispatch
    if dispatch.loaded_as_persistent:
        return False
    return all(fn in _OWN_HOOKS for fn in dispatch.do_orm_execute)


def held(session: AsyncSession, plan: ReadPlan, identity: Sequence[Any]) -> Any:
    """The object of ``identity`` the session holds, ``EXPIRED``, or ``ABSENT``."""
    key = (_internals.identity_class(plan.info.mapper), tuple(identity), None)
    obj = session.sync_session.identity_map.get(key)
    if obj is None:
        return ABSENT
    # session.get() loads a wholly expired object again, and returns one with some
    # attributes expired as it is
    return EXPIRED if attributes.instance_state(obj).expired else obj


@overload
def attach_all(
    session: AsyncSession, plan: ReadPlan, rows: Sequence[Sequence[Any]]
) -> list[Any] | None: ...
@overload
def attach_all(
    session: AsyncSession, plan: ReadPlan, rows: Sequence[Sequence[Any]], *, refresh: Literal[True]
) -> list[Any]: ...
def attach_all(
    session: AsyncSession, plan: ReadPlan, rows: Sequence[Sequence[Any]], *, refresh: bool = False
) -> list[Any] | None:
    """The session's objects for ``rows``: those it holds, the others made persistent.

    None if the session holds an expired object for one of the rows: the ORM's loader
    would load it again from its row, so the caller lets the ORM route answer instead
    (nothing is entered into the session then). A stream cannot go back: with
    ``refresh=True`` such an object gets its expired columns from the row, as the loader
    would give them, and its relationships stay expired.
    """
    sync = session.sync_session
    objs = plan.build_all(rows)
    states: list[Any] = [attributes.instance_state(obj) for obj in objs]
    held = _internals.held_objects(sync, states)
    if not refresh and any(_expired(obj) for _, obj in held):
        return None
    for position, obj in held:
        if refresh and _expired(obj):
            _load_expired_columns(obj, plan.keys, rows[position])
        objs[position] = obj  # the one built in its place is dropped, never entered
        states[position] = None
    _internals.make_all_persistent(sync, states)
    return objs


def _load_expired_columns(obj: Any, keys: Sequence[str], row: Sequence[Any]) -> None:
    unloaded = attributes.instance_state(obj).unloaded
    for key, value in zip(keys, row, strict=False):
        if key in unloaded:
            attributes.set_committed_value(obj, key, value)


def _expired(obj: Any) -> bool:
    state = attributes.instance_state(obj)
    return bool(state.expired or state.expired_attributes)


def observed(bind: Any) -> bool:
    """Whether statements on ``bind`` (an Engine or a Connection) are watched: ``echo`` or a
    cursor listener on the engine or on the connection itself."""
    engine = getattr(bind, "engine", None)
    if engine is None:
        return False
    for target in (engine, bind):
        dispatch = target.dispatch
        if dispatch.before_cursor_execute or dispatch.after_cursor_execute:
            return True
    return bool(engine.echo)


def templatable_bind(session: AsyncSession, mapper: Mapper[Any]) -> bool:
    """Whether the session's bind for ``mapper`` runs templates unobserved."""
    bind: Any = session.sync_session.get_bind(mapper)
    return bind.dialect.driver in _templates.DRIVERS and not observed(bind)


def claim(session: AsyncSession, op: str) -> Any:
    """Mark ``session`` busy for the calling task (the sync twin: thread) while a fast
    route uses its connection; hand what this returns to :func:`release` after.

    The session's own methods each hold its one-task guard (:mod:`sqlops._guards`); a
    fast route uses the connection without them, so it holds the guard itself, for the
    whole statement: a second task arriving meanwhile gets ``SessionMisuseError`` as on
    the ORM route, not the driver's "another operation is in progress" (asyncpg) or a
    protocol left waiting forever (asyncmy). A session of the application's own, without
    the guard, is used as on the ORM route: unguarded.
    """
    guard = session if hasattr(session, "_sqlops_enter") else session.sync_session
    enter = getattr(guard, "_sqlops_enter", None)
    if enter is None:
        return None
    enter(op)
    return guard


def release(guard: Any) -> None:
    """End a :func:`claim`."""
    if guard is not None:
        guard._sqlops_exit()


async def held_batches(session: AsyncSession, batches: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """``batches``, the session held for this task while each one is fetched (:func:`claim`),
    free between them: the caller may use it while it iterates."""
    while True:
        guard = claim(session, "stream")
        try:
            batch = await batches.__anext__()
        except StopAsyncIteration:
            return
        finally:
            release(guard)
        yield batch


async def connection(session: AsyncSession, mapper: Mapper[Any]) -> AsyncConnection:
    """``session.connection()`` for ``mapper``, without its greenlet hop (and the sync
    session's ``_connection_for_bind``) when the session's transaction holds that
    connection already (every statement after the first); the aborted-transaction
    check runs as in the session's own call. Callers hold the session (:func:`claim`)."""
    sync = session.sync_session
    held = _internals.held_connection(sync, sync.get_bind(mapper))
    if held is not None:
        _failures.check(session, "connection")
        if _runtime.blocking():  # the sync twin: its adapter's face, no greenlet either way
            return session.face_of(held)  # type: ignore[attr-defined, no-any-return]
        return AsyncConnection._retrieve_proxy_for_target(held)
    return await session.connection(bind_arguments={"mapper": mapper})


async def on_connection(
    session: AsyncSession, mapper: Mapper[Any], use: Callable[[AsyncConnection], Awaitable[T]]
) -> T:
    """``use(connection)`` on the session's connection for ``mapper``, the session held
    for this task meanwhile (:func:`claim`)."""
    guard = claim(session, "execute")
    try:
        return await use(await connection(session, mapper))
    finally:
        release(guard)


async def on_driver(
    session: AsyncSession,
    mapper: Mapper[Any],
    use: Callable[[Any], Awaitable[T]],
    *,
    read: bool = False,
) -> T:
    """``use(driver_connection)`` inside the session's transaction.

    SQLAlchemy's asyncpg adapter defers BEGIN to its first statement; it is sent here
    first — except before a ``read`` in READ COMMITTED: a statement alone sees what it
    would see as the first one of the transaction, so a session that only reads (a
    ``db.session()`` serving a GET) costs one round trip per read, not BEGIN, SELECT and
    ROLLBACK; BEGIN stays due for the first statement that needs it. A connection lost
    or a call cancelled midway leaves the connection in an unknown state: it is
    invalidated as SQLAlchemy does on its own paths (closed gracefully, inside the
    greenlet, so the server ends the transaction at once), and the session's
    transaction ends with it.
    """
    guard = claim(session, "execute")
    try:
        conn, raw = await _begun(session, mapper, read, asyncpg=False)
        # SQLAlchemy's async adapters run one statement at a time on a connection (a
        # lock of theirs); a session of the application's own, which has no guard, is
        # shared that way on the ORM route, so the driver is used under the same lock —
        # asyncpg's deferred BEGIN included, decided under it as the adapter does.
        adapter = raw.dbapi_connection
        mutex = _internals.execute_mutex(adapter)
        if mutex is not None:
            await mutex.acquire()  # cancelled while waiting: nothing was sent
        try:
            try:
                await _asyncpg_begin(conn, adapter, read)
                return await use(
                    _psycopg.face(raw.driver_connection, conn.dialect, in_transaction=True)
                )
            finally:
                if mutex is not None:
                    mutex.release()
        except BaseException as exc:
            await discard_if_unknown(conn, exc)
            raise
    finally:
        release(guard)


async def driver_of(
    session: AsyncSession, mapper: Mapper[Any], *, read: bool = False
) -> tuple[AsyncConnection, Any]:
    """The session's connection for ``mapper`` and its driver connection, BEGIN sent
    (not before a ``read`` in READ COMMITTED, see :func:`on_driver`)."""
    conn, raw = await _begun(session, mapper, read)
    return conn, raw.driver_connection


async def _begun(
    session: AsyncSession, mapper: Mapper[Any], read: bool, *, asyncpg: bool = True
) -> tuple[AsyncConnection, Any]:
    """:func:`driver_of`, with the pooled connection instead of the driver's
    (``asyncpg=False``: asyncpg's deferred BEGIN is left to the caller)."""
    conn = await connection(session, mapper)
    raw = await _internals.raw_connection(conn)
    try:
        if asyncpg:
            await _asyncpg_begin(conn, raw.dbapi_connection, read)
        if not read and conn.dialect.name == "sqlite":  # a db.session()'s deferred BEGIN
            await _dialects.send_deferred_sqlite_begin(conn)
    except BaseException as exc:
        await discard_if_unknown(conn, exc)
        raise
    return conn, raw


async def _asyncpg_begin(conn: AsyncConnection, adapter: Any, read: bool) -> None:
    """Send the BEGIN that SQLAlchemy's asyncpg adapter defers, if it is still due."""
    begin = _internals.asyncpg_pending_begin(adapter)
    if begin is not None and not (read and _internals.reads_committed(adapter, conn.dialect)):
        await begin()


async def discard_if_unknown(conn: AsyncConnection, exc: BaseException) -> None:
    """Invalidate ``conn`` if ``exc`` left it in an unknown state (see :func:`on_driver`).

    Lost, or a driver call cut off midway (cancelled, interrupted); not an ordinary
    error, and not a generator closed between two calls (``GeneratorExit``).
    """
    if isinstance(exc, DatabaseUnavailableError) or not isinstance(exc, (Exception, GeneratorExit)):
        await quietly(conn.invalidate(exc))
