"""The sync drivers under the shared fast paths: read templates and pooled liveness.

Standalone reads of plain models skip SQLAlchemy's statement machinery: a template (SQL
compiled once per query shape, :mod:`sqlops._templates`) goes straight to the driver's
cursor. :class:`TemplateDriver` gives sqlite3, psycopg (3) and PyMySQL connections the
one call the template runner makes, and :func:`lend` lends one from the pool.

:func:`watch_liveness` replaces ``pool_pre_ping``'s round trip per checkout: a pooled
connection whose socket has something to read while it sat idle was closed or told
something by the server (a terminated backend, ``wait_timeout``, a restart), and only
then, or after a long idle spell, is it really pinged.
"""

from __future__ import annotations

import functools
import select
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from sqlops import _autocommit, _dialects, _lane

T = TypeVar("T")

_IDLE_SINCE = "sqlops_sync_idle_since"


class TemplateDriver:
    """``fetch_typed(sql, params, codes)`` over a DBAPI connection: rows (and type codes);
    ``execute_count`` for a write without RETURNING (MariaDB)."""

    __slots__ = ("autocommit", "connection")

    def __init__(self, connection: Any, driver: str, *, in_transaction: bool = False) -> None:
        self.connection = connection
        # psycopg: a bare SELECT would open a transaction that the pool then rolls back
        # (one more round trip); in autocommit it is one statement, as on asyncpg. Never
        # inside a session's transaction: there the read must see (and join) it.
        self.autocommit = driver == "psycopg" and not in_transaction

    async def fetch_typed(
        self, sql: str, parameters: Any, codes: bool
    ) -> tuple[list[Any], list[Any]]:
        """The rows; with ``codes``, the result columns' type codes too (a first run)."""
        conn = self.connection
        switch = self.autocommit and not conn.autocommit
        if switch:
            conn.autocommit = True  # client-side only while idle: no round trip
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(sql, parameters)
                rows = cursor.fetchall()
                types = [column[1] for column in cursor.description or ()] if codes else []
            finally:
                cursor.close()
        finally:
            if switch:
                conn.autocommit = False
        return rows, types

    async def execute_count(self, sql: str, parameters: Any) -> int:
        """Run a write that returns no rows: the number of rows it matched."""
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, parameters)
            return int(cursor.rowcount)
        finally:
            cursor.close()


async def lend(engine: Engine, use: Callable[[TemplateDriver], Awaitable[T]]) -> T:
    """Lend ``use`` a pooled driver connection; translate and invalidate as ``with_driver``."""
    taken = _lane.take(engine)
    if taken is not None:
        return await _on_the_lane(engine, taken, use)
    autocommits = engine.dialect.driver in _autocommit.DRIVERS
    with _autocommit.checkout_for_read(autocommits):  # MariaDB: see _autocommit
        fairy = engine.raw_connection()
    try:
        driver: Any = fairy.driver_connection
        if autocommits and _autocommit.must_switch(fairy):
            driver.autocommit(True)
        return await use(TemplateDriver(driver, engine.dialect.driver))
    except Exception as exc:
        lost = _is_disconnect(engine, exc, fairy)
        invalidate = functools.partial(_dialects.invalidate_all, fairy)
        err = _dialects.lent_failure(exc, lost, invalidate)
        if err is None:
            raise
        raise err from exc
    except BaseException as exc:  # interrupted mid-call: the connection's state is unknown
        fairy.invalidate(exc)
        raise
    finally:
        if autocommits:
            _autocommit.release(fairy)
        else:
            fairy.close()


async def _on_the_lane(
    engine: Engine, taken: _lane.Taken, use: Callable[[TemplateDriver], Awaitable[T]]
) -> T:
    """``lend`` on a connection taken straight off the pool's queue (:mod:`sqlops._lane`)."""
    record = taken[2]
    driver: Any = record.driver_connection
    try:
        if engine.dialect.driver in _autocommit.DRIVERS and _autocommit.must_switch(record):
            driver.autocommit(True)
        result = await use(TemplateDriver(driver, engine.dialect.driver))
    except Exception as exc:
        try:
            lost = _is_disconnect(engine, exc, record)
            invalidate = functools.partial(_lane.invalidate_all, taken)
            err = _dialects.lent_failure(exc, lost, invalidate)
        finally:
            _give_back(taken)
        if err is None:
            raise
        raise err from exc
    except BaseException as exc:  # interrupted mid-call: the connection's state is unknown
        _lane.discard(taken, exc)
        raise
    _give_back(taken)
    return result


def _give_back(taken: _lane.Taken) -> None:
    _lane.give_back(taken)  # a blocking lane: an overflow connection is closed in place


def install_lane(engine: Engine, *, watched: bool) -> None:
    """The pool's fast lane for template reads (:mod:`sqlops._lane`); ``watched``: with
    :func:`watch_liveness` on, whose checkout check the lane runs as well."""
    clean = _dialects.lane_clean(engine.dialect.driver)
    if clean is None:
        return
    if watched:
        _lane.install(engine, ready=_lane_ready, clean=clean, idle_key=_IDLE_SINCE, blocking=True)
    else:
        _lane.install(engine, clean=clean, blocking=True)


def _lane_ready(record: Any) -> bool:
    return not _doubtful(record.dbapi_connection, record, _dialects.PING_IDLE_AFTER)


def _is_disconnect(engine: Engine, exc: Exception, fairy: Any) -> bool:
    dbapi = engine.dialect.loaded_dbapi
    if not isinstance(exc, dbapi.Error):
        return False
    return bool(engine.dialect.is_disconnect(exc, fairy.dbapi_connection, None))


def watch_liveness(engine: Engine, idle_ping_after: float = _dialects.PING_IDLE_AFTER) -> None:
    """Check pooled connections at checkout without a round trip (see the module docstring)."""

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if not _doubtful(dbapi_connection, record, idle_ping_after):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise sa_exc.DisconnectionError("the server closed this connection") from exc


def _doubtful(dbapi_connection: Any, record: Any, idle_ping_after: float) -> bool:
    """Whether an idle pooled connection must be pinged before it is handed out."""
    idle_since = record.info.get(_IDLE_SINCE)
    if idle_since is None:
        return False  # just connected
    stale = time.monotonic() - idle_since > idle_ping_after
    return stale or _readable(dbapi_connection)


def _readable(dbapi_connection: Any) -> bool:
    """Whether an idle connection's socket has data (or EOF) waiting: the server spoke."""
    driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    try:
        if hasattr(driver, "fileno"):  # psycopg
            fd = driver.fileno()
        else:  # PyMySQL
            sock = getattr(driver, "_sock", None)
            if sock is None:
                return True
            fd = sock.fileno()
        ready, _, _ = select.select([fd], [], [], 0)
    except Exception:
        return True  # closed or unknown: let the real ping decide
    return bool(ready)
