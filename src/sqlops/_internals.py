"""Every private SQLAlchemy detail the fast routes rely on, in one place.

The fast routes build instances as the ORM's loader does and run compiled statements on
the driver connection under SQLAlchemy's adapter. That needs a few names SQLAlchemy does
not document; each is used only through a function here, and each has a test of its own
(``tests/integration/test_internals.py``) on the oldest (2.0) and newest (2.1) supported
releases, so an upgrade that changes one fails there, by name, instead of somewhere deep.
When one is missing, :func:`available` says so and the ordinary ORM route serves instead.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.session import SessionTransactionState
from sqlalchemy.sql import schema as _schema
from sqlalchemy.sql.type_api import TypeEngine
from sqlalchemy.util import queue as _queue

# ClassManager.new_instance() is these two steps; Mapper._identity_class is the first
# element of every identity key of the mapper's rows.
_MANAGER = ("_state_constructor", "_state_setter")
_ACTIVE = SessionTransactionState.ACTIVE


def available(mapper: Mapper[Any]) -> bool:
    """Whether this SQLAlchemy has what :func:`instance_builder` uses."""
    manager = mapper.class_manager
    return all(hasattr(manager, a) for a in _MANAGER) and hasattr(mapper, "_identity_class")


def identity_class(mapper: Mapper[Any]) -> type[Any]:
    """The class in the identity keys of ``mapper``'s instances (the base mapper's)."""
    return mapper._identity_class


def instance_builder(
    mapper: Mapper[Any], keys: Sequence[str], positions: Sequence[int]
) -> Callable[[Sequence[Any]], Any]:
    """A function making a detached, loaded instance from a row of ``keys`` columns.

    What ``ClassManager.new_instance()`` plus the loader's column population do, inlined:
    ``__new__``, the state, the values in ``__dict__`` (unmodified: they are the committed
    state), the identity key from the primary-key ``positions``.
    """
    cls: Any = mapper.class_
    manager = mapper.class_manager
    new, construct, attach = cls.__new__, manager._state_constructor, manager._state_setter
    identity = identity_class(mapper)
    keys = tuple(keys)

    def build(row: Sequence[Any]) -> Any:
        obj = new(cls)
        state = construct(obj, manager)
        attach(obj, state)
        obj.__dict__.update(zip(keys, row, strict=False))  # page rows carry a total
        state.key = (identity, tuple([row[i] for i in positions]), None)
        return obj

    return build


def batch_builder(
    mapper: Mapper[Any], keys: Sequence[str], positions: Sequence[int]
) -> Callable[[Iterable[Sequence[Any]]], list[Any]]:
    """:func:`instance_builder` over many rows: one loop, no call per row.

    A stream builds every row it reads, so the per-row function call and the key's list
    comprehension are a fair part of its cost.
    """
    cls: Any = mapper.class_
    manager = mapper.class_manager
    new, construct, attach = cls.__new__, manager._state_constructor, manager._state_setter
    identity = identity_class(mapper)
    keys = tuple(keys)
    single = len(positions) == 1
    pk = operator.itemgetter(*positions)  # a scalar for one position, else a tuple

    def build_all(rows: Iterable[Sequence[Any]]) -> list[Any]:
        out: list[Any] = []
        append = out.append
        for row in rows:
            obj = new(cls)
            state = construct(obj, manager)
            attach(obj, state)
            obj.__dict__.update(zip(keys, row, strict=False))  # page rows carry a total
            state.key = (identity, (pk(row),) if single else pk(row), None)
            append(obj)
        return out

    return build_all


def held_objects(session: Session, states: Sequence[Any]) -> list[tuple[int, Any]]:
    """``(position, object)`` of each built state whose identity ``session`` holds.

    ``IdentityMap.fast_get_state`` is the ORM's own bulk lookup; a state whose object
    was collected counts as absent, as ``identity_map.get()`` has it.
    """
    identity_map = session.identity_map
    if not len(identity_map):
        return []
    get = identity_map.fast_get_state
    out = []
    for position, state in enumerate(states):
        found = get(state.key)
        if found is not None:
            obj = found.obj()
            if obj is not None:
                out.append((position, obj))
    return out


def make_persistent(session: Session, state: Any) -> None:
    """Put a freshly built instance (identity key set) into ``session`` as persistent.

    What ``loading._instance`` does for a row whose identity the session does not hold:
    the state is tied to the session and entered in its identity map, with its loaded
    values as the committed state, so a later change is flushed as an UPDATE.
    """
    state.session_id = session.hash_key
    session.identity_map._add_unpresent(state, state.key)


def make_all_persistent(session: Session, states: Iterable[Any]) -> None:
    """:func:`make_persistent` for each of ``states`` (None: skipped), in one loop."""
    hash_key = session.hash_key
    add = session.identity_map._add_unpresent
    for state in states:
        if state is not None:
            state.session_id = hash_key
            add(state, state.key)


def has_pending(session: Session) -> bool:
    """Whether ``session`` holds new, deleted or changed objects that a flush would write.

    ``Session.new`` / ``.deleted`` / ``.dirty`` build sets on each call; these are the
    collections behind them (``Session._is_clean()`` without its method call).
    """
    return bool(session._new or session._deleted) or session.identity_map.check_modified()


def bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> Any:
    """The type's parameter processor for ``dialect`` (cached by SQLAlchemy)."""
    return type_._cached_bind_processor(dialect)


def result_processor(type_: TypeEngine[Any], dialect: Dialect, oid: Any) -> Any:
    """The type's result processor for ``dialect`` and column type ``oid`` (cached)."""
    return type_._cached_result_processor(dialect, oid)


def checkin_reset(fairy: Any) -> None:
    """Return a pooled connection whose transaction is known to be over: no ROLLBACK.

    What a SQLAlchemy ``Connection`` does after its own COMMIT (``_close_special``): the
    pool's reset-on-return skips its rollback round trip.
    """
    fairy._close_special(transaction_reset=True)


def mysql_no_result_since_command(driver: Any) -> bool:
    """Whether the last command on a PyMySQL / asyncmy connection returned no result set.

    Both drivers clear ``_result`` as each command is sent and set it only when a query's
    reply is read: after COMMIT, ROLLBACK, ``SET autocommit`` or a ping it stays None; after
    any statement (a SELECT that opened a snapshot included) it holds that statement's
    result. False when the driver is not one of these (then nothing is skipped).
    """
    return getattr(driver, "_result", False) is None


def asyncmy_closed(driver: Any) -> bool | None:
    """Whether an idle asyncmy connection's socket was closed or spoken on; None: unknown.

    asyncmy's protocol reads the socket continuously into ``_proto``: end of stream, a
    transport error or unread bytes while no statement runs all mean the server closed
    it or sent an error (``wait_timeout``, KILL, a restart).
    """
    proto = getattr(driver, "_proto", None)
    transport = getattr(driver, "_transport", None)
    if proto is None or transport is None or not hasattr(proto, "eof"):
        return None
    unread = proto.length > proto.pos
    return bool(proto.eof or proto.exc is not None or unread or transport.is_closing())


def asyncpg_pending_begin(adapter: Any) -> Any:
    """The coroutine function that sends BEGIN on SQLAlchemy's asyncpg adapter, if due.

    The adapter defers BEGIN to the first statement its cursor runs; a statement sent on
    the asyncpg connection directly must send it first, or it runs outside the
    transaction. None when no BEGIN is due (already begun, autocommit, another driver).
    """
    start = getattr(adapter, "_start_transaction", None)
    if start is None or getattr(adapter, "_transaction", True) is not None:
        return None
    if getattr(adapter, "isolation_level", None) == "autocommit":
        return None
    return start


def held_connection(session: Session, bind: Any) -> Connection | None:
    """The ``Connection`` that ``session.connection()`` would return for ``bind``, when
    the session's transaction already holds it; else None.

    ``Session.connection()`` goes through ``_connection_for_bind`` (and, on an
    ``AsyncSession``, a greenlet hop to it), which returns
    ``SessionTransaction._connections[bind][0]`` when the innermost transaction is
    active and has one: that lookup alone. Anything else (no transaction yet, one being
    set up or failed, a closed ``with session.begin()`` block) is left to the real call,
    which raises as it does.
    """
    trans = session._transaction
    if trans is None or trans._state is not _ACTIVE:
        return None
    context = session._trans_context_manager  # SQLAlchemy refuses a closed one's
    if context is not None and not context._transaction_is_active():
        return None
    found = trans._connections.get(bind)
    return None if found is None else found[0]


def holds_no_connection(session: Session) -> bool:
    """Whether ``session`` is in no transaction, so that ``close()`` needs no IO.

    ``Session.close()`` expunges every object, then closes its transactions (the IO:
    ROLLBACK, the return to the pool). A committed or rolled-back autobegun transaction
    is gone from ``Session._transaction``; with none left, closing is in-memory work.
    """
    return session._transaction is None


def execute_mutex(adapter: Any) -> Any:
    """The lock SQLAlchemy's async adapter holds while a statement runs on ``adapter``
    (``_execute_mutex``, an ``asyncio.Lock``), or None: the sync twin's drivers, and SQLAlchemy
    2.0's aiosqlite adapter (aiosqlite runs one call at a time on its own thread). The psycopg
    adapter has the lock but runs statements under psycopg's own connection lock instead,
    which serializes the fast route's statements with its own just the same."""
    return getattr(adapter, "_execute_mutex", None)


async def raw_connection(conn: Any) -> Any:
    """The pooled DBAPI connection under an ``AsyncConnection``, without a greenlet hop.

    ``get_raw_connection()`` runs ``Connection.connection`` in a greenlet because it may
    have to revalidate an invalidated connection (IO); a live one is just its
    ``_dbapi_connection``. Anything else (the sync twin's adapter) is asked as usual.
    """
    if isinstance(conn, AsyncConnection):
        found = getattr(conn.sync_connection, "_dbapi_connection", None)
        if found is not None:
            return found
    return await conn.get_raw_connection()


def reads_committed(adapter: Any, dialect: Dialect) -> bool:
    """Whether the asyncpg adapter's pending transaction would be READ COMMITTED.

    Its ``isolation_level`` is the one set on the connection (``"repeatable_read"``, ...)
    or None for the server's default, which the dialect read at first connect.
    """
    level = getattr(adapter, "isolation_level", None) or dialect.default_isolation_level
    return str(level).upper().replace("_", " ") == "READ COMMITTED"


def plain_onupdate(default: Any) -> Callable[[], Any] | None:
    """The function behind a Python ``onupdate=`` that takes no context, else None.

    SQLAlchemy wraps such a function (``utcnow``) in ``lambda ctx: fn()``, defined in its
    ``sql/schema.py``; one that takes the execution context is kept as it is, and cannot
    be called outside an execution. A fast UPDATE computes the first kind itself, so the
    statement stays one template; the second kind leaves it to Core.
    """
    arg: Any = getattr(default, "arg", None)
    code = getattr(arg, "__code__", None)
    if code is None or code.co_name != "<lambda>" or code.co_filename != _schema.__file__:
        return None
    return lambda: arg(None)


async def asyncpg_close_portal(cursor: Any) -> None:
    """Close the portal of an asyncpg ``Cursor`` that was not read to its end.

    asyncpg has no public close: a portal otherwise lives until the transaction ends,
    holding its place in the query, which an injected session's transaction may keep
    for a long time after a stream stopped early.
    """
    await cursor._close_portal(None)


def asyncpg_caches_statements(driver: Any) -> bool:
    """Whether an asyncpg connection keeps prepared statements (its cache is on).

    Off is how ``pooler="pgbouncer"`` runs: then only unnamed statements may be used, and
    asyncpg's ``cursor()`` always prepares a named one.
    """
    return bool(getattr(driver, "_stmt_cache_enabled", True))


def pool_signature(pool: Any) -> tuple[Any, ...] | None:
    """What decides whether a connection may skip SQLAlchemy's checkout (:mod:`sqlops._lane`).

    None for a pool that is not a queue pool (``StaticPool``, ``NullPool``). Otherwise
    ``pre_ping``, pool debug logging and the number of ``checkout``, ``checkin`` and
    ``reset`` listeners: the checkout and return the lane skips would have run exactly those.
    """
    if not isinstance(getattr(pool, "_pool", None), _queue.QueueCommon):
        return None
    return queue_pool_signature(pool)


def queue_pool_signature(pool: Any) -> tuple[Any, ...]:
    """:func:`pool_signature` of a pool known to be a queue pool (once per template read)."""
    dispatch = pool.dispatch
    return (
        pool._pre_ping,
        pool._should_log_debug(),
        len(dispatch.checkout),
        len(dispatch.checkin),
        len(dispatch.reset),
    )


def take_idle(pool: Any) -> Any | None:
    """An idle pooled connection's record, taken off the pool's queue without waiting.

    None when the queue is empty, or when the record taken must first be (re)connected,
    recycled (``pool_recycle``) or replaced after an invalidation: it is put back, for
    SQLAlchemy's own checkout to do that. What ``_ConnectionRecord.get_connection()``
    checks before it hands out a connection as is, minus the IO.
    """
    try:
        record = pool._pool.get_nowait()
    except _queue.Empty:
        return None
    start = record.starttime
    if (
        record.dbapi_connection is None
        or pool._invalidate_time > start
        or record._soft_invalidate_time > start
        or (pool._recycle > -1 and time.time() - start > pool._recycle)
    ):
        pool._do_return_conn(record)
        return None
    return record


def return_idle(pool: Any, record: Any) -> None:
    """Put a record that :func:`take_idle` took back on its pool's queue (or close an
    overflow one), as the pool's own check-in does after its reset."""
    pool._do_return_conn(record)


def queue_full(pool: Any) -> bool:
    """Whether ``pool``'s queue is full: a record returned now is closed (an overflow one)."""
    return bool(pool._pool.full())


def invalidate_older(pool: Any, exc: BaseException) -> None:
    """Mark every connection ``pool`` opened until now as to be replaced at its next checkout."""
    pool._invalidate(None, exc, _checkin=False)
