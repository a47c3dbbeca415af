"""Engines as sqlops configures them: pools, connection set-up, lending a driver connection."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool, StaticPool
from sqlalchemy.util import greenlet_spawn

from . import _aiosqlite, _autocommit, _dialects, _guards, _lane, _psycopg, _translate
from ._dialects import configure_engine
from ._errors import DatabaseUnavailableError, SqlopsError
from ._url import dialect_family, is_memory_sqlite, safe_url

T = TypeVar("T")


def make_engine(
    url: URL, echo: bool, pool: dict[str, Any], engine_options: dict[str, Any]
) -> AsyncEngine:
    engine: AsyncEngine = _build_engine(url, echo, pool, engine_options, blocking=False)
    return engine


def make_sync_engine(
    url: URL, echo: bool, pool: dict[str, Any], engine_options: dict[str, Any]
) -> Engine:
    """The sync twin's engine: the same pool and connection set-up, over a sync driver."""
    engine: Engine = _build_engine(url, echo, pool, engine_options, blocking=True)
    return engine


def _build_engine(
    url: URL, echo: bool, pool: dict[str, Any], engine_options: dict[str, Any], *, blocking: bool
) -> Any:
    """The configured engine for ``url``: async, or (``blocking``, the sync twin) sync."""
    family = dialect_family(url)
    options: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if family in ("postgresql", "mysql"):
        # asyncpg, asyncmy: liveness is checked at checkout without a round trip (_dialects).
        options.update(pool_pre_ping=url.get_driver_name() not in _dialects.SOCKET_LIVENESS)
        options.update(poolclass=_SyncQueuePool if blocking else _QueuePool)
        options.update({k: v for k, v in pool.items() if v is not None})
        if family == "mysql":
            options.setdefault("pool_recycle", 3600)
    elif not is_memory_sqlite(url):
        options["poolclass"] = _SyncQueuePool if blocking else _QueuePool
        options.update({k: v for k, v in pool.items() if v is not None})
    elif blocking:  # one in-memory database shared by every thread, as by every task
        options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    own_reset = family == "sqlite" or url.get_driver_name() in _autocommit.DRIVERS
    if own_reset:
        options["pool_reset_on_return"] = None  # a "reset" hook rolls back only if needed
    options.update(engine_options)
    engine: Any = (create_engine if blocking else create_async_engine)(url, **options)
    sync_engine: Engine = engine if blocking else engine.sync_engine
    configure_engine(sync_engine, family, url)
    if family == "mysql" and own_reset and options["pool_reset_on_return"] is None:
        _autocommit.reset_only_if_needed(sync_engine)
    if family == "sqlite" and not blocking:
        _aiosqlite.release_locks_on_invalidate(sync_engine)
    event.listen(sync_engine, "handle_error", _translate.on_handle_error)
    if family != "sqlite" and not blocking:  # aiosqlite's work from any loop; others do not
        _guards.watch_loop(sync_engine, f"Database({safe_url(url)!r})")
    if not blocking:  # the sync twin installs its own once its liveness hooks are on
        _install_lane(sync_engine)
    return engine


def _install_lane(engine: Engine) -> None:
    """The pool's fast lane for template reads (:mod:`sqlops._lane`): asyncpg, asyncmy, SQLite."""
    driver = engine.dialect.driver
    clean = _dialects.lane_clean(driver)
    if clean is None or driver not in (*_dialects.SOCKET_LIVENESS, "aiosqlite"):
        return  # psycopg and aiomysql check liveness with a ping, which needs the checkout
    if driver == "aiosqlite":
        _lane.install(engine, clean=clean)  # no liveness hook to mirror, no loop guard
    else:
        idle_key = _dialects.IDLE_SINCE
        _lane.install(engine, ready=_dialects.lane_ready, clean=clean, idle_key=idle_key)


async def with_driver(engine: AsyncEngine, use: Callable[[Any], Awaitable[T]]) -> T:
    """Lend ``use`` the driver connection of a pooled connection, then return it.

    Driver errors are translated here (they bypass SQLAlchemy's hook); a connection
    that failed at the transport level, or whose call was cancelled midway, is
    discarded instead of going back to the pool. No transaction is started on this
    path (MariaDB reads in autocommit for it, :mod:`sqlops._autocommit`), so giving the
    connection back usually does no IO and completes inside
    ``greenlet_spawn`` without yielding; it only awaits when the pool closes the
    connection (NullPool, overflow), which needs the greenlet.
    """
    taken = _lane.take(engine.sync_engine)
    if taken is not None:
        return await _on_the_lane(engine, taken, use)
    autocommits = engine.dialect.driver in _autocommit.DRIVERS
    with _autocommit.checkout_for_read(autocommits):  # MariaDB: see _autocommit
        fairy = await engine.raw_connection()
    driver: Any = _psycopg.face(fairy.driver_connection, engine.dialect, in_transaction=False)
    try:
        if autocommits and _autocommit.must_switch(fairy):
            await driver.autocommit(True)
        return await use(driver)
    except Exception as exc:
        invalidate = functools.partial(_dialects.invalidate_all, fairy)
        err = await _outside_io(fairy, _dialects.lent_failure, exc, _lost(driver), invalidate)
        if err is None:
            raise
        raise err from exc
    except BaseException as exc:  # cancelled mid-call: the connection's state is unknown
        await _outside_io(fairy, fairy.invalidate, exc)
        raise
    finally:
        await greenlet_spawn(_autocommit.release if autocommits else _close, fairy)


async def _on_the_lane(
    engine: AsyncEngine, taken: _lane.Taken, use: Callable[[Any], Awaitable[T]]
) -> T:
    """``with_driver`` on a connection taken straight off the pool's queue (:mod:`sqlops._lane`).

    The same translation and the same discarding; no greenlet hop, since nothing here
    needs SQLAlchemy's IO: the lane only lends drivers whose ``terminate()`` closes a
    connection without waiting (asyncpg, asyncmy, aiosqlite).
    """
    record = taken[2]
    driver: Any = record.driver_connection
    try:
        if engine.dialect.driver in _autocommit.DRIVERS and _autocommit.must_switch(record):
            await driver.autocommit(True)
        result = await use(driver)
    except Exception as exc:
        try:
            invalidate = functools.partial(_lane.invalidate_all, taken)
            err = _dialects.lent_failure(exc, _lost(driver), invalidate)
        finally:
            await _give_back(taken)
        if err is None:
            raise
        raise err from exc
    except BaseException as exc:  # cancelled mid-call: the connection's state is unknown
        _lane.discard(taken, exc)
        raise
    await _give_back(taken)
    return result


async def _give_back(taken: _lane.Taken) -> None:
    close = _lane.give_back(taken)
    if close is not None:  # an overflow connection: the pool closes it, which is IO
        await greenlet_spawn(close)


def _lost(driver: Any) -> bool:
    is_closed = getattr(driver, "is_closed", None)  # asyncpg, psycopg's face
    return is_closed is not None and bool(is_closed())


def _close(fairy: Any) -> None:
    fairy.close()


async def _outside_io(fairy: Any, call: Callable[..., T], *args: Any) -> T:
    """Run ``call`` (which may invalidate ``fairy``) where closing the connection works.

    The asyncio adapters with ``terminate()`` (asyncpg, asyncmy, aiomysql, aiosqlite) close
    a connection without waiting, outside a greenlet; psycopg's only closes through
    ``await_`` (its ``close()`` does not suspend), so in a greenlet: called outside one,
    it raised MissingGreenlet and left the connection open, to be closed by the garbage
    collector (``ResourceWarning``).
    """
    if hasattr(fairy.dbapi_connection, "terminate"):
        return call(*args)
    return await greenlet_spawn(call, *args)


class _SyncQueuePool(QueuePool):
    """A queue pool whose failures say what happened and what to change.

    The sync twin (:mod:`sqlops.sync`) uses it as is; :class:`_QueuePool` adapts it to asyncio.
    It logs under SQLAlchemy's own name for the class it extends, so that
    ``logging.getLogger("sqlalchemy.pool")`` (SQLAlchemy's documented switch) shows its
    checkouts, not a logger named after this module.
    """

    _sqla_logger_namespace = "sqlalchemy.pool.impl.QueuePool"

    def connect(self) -> Any:
        """Check a connection out; a failure to open one is a DatabaseUnavailableError.

        A server going down can accept the TCP connection and then drop it while
        SQLAlchemy's connect handlers set it up (asyncpg's type codecs, the first
        rollback); those raise the driver's own errors, which no ``handle_error`` hook
        sees on this path.
        """
        try:
            return super().connect()
        except SqlopsError:
            raise
        except Exception as exc:
            raise DatabaseUnavailableError(
                f"cannot open a connection: {type(exc).__name__}: {exc}"
            ) from exc

    def _do_get(self) -> Any:
        try:
            record = super()._do_get()
        except sa_exc.TimeoutError as exc:
            raise PoolTimeoutError(
                f"connection pool exhausted: all {self.size()} connections and "
                f"{self._max_overflow} overflow are in use and none was returned within "
                f"{self._timeout:g}s (pool_size={self.size()}, max_overflow="
                f"{self._max_overflow}, pool_timeout={self._timeout:g}); raise them, or "
                "release sessions sooner"
            ) from exc
        return record


class _QueuePool(_SyncQueuePool, AsyncAdaptedQueuePool):
    """The async queue pool; a connection is handed out only on the loop that opened it."""

    _sqla_logger_namespace = "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"

    def _do_get(self) -> Any:
        record = super()._do_get()
        try:
            _guards.check_loop(record)
        except BaseException:
            self._do_return_conn(record)  # untouched: it belongs to its own loop
            raise
        return record


class PoolTimeoutError(DatabaseUnavailableError, sa_exc.TimeoutError):
    """No pooled connection became free within ``pool_timeout``."""

    code = None  # our message already says what to change
