"""MariaDB standalone reads in autocommit: one round trip instead of SELECT + ROLLBACK.

With autocommit off (the DBAPI default) a SELECT on MariaDB opens a transaction — a
snapshot and metadata locks that block DDL, although the protocol's in-transaction flag
stays clear — and the pool ends it with a ROLLBACK round trip when the connection comes
back. A template read (:func:`sqlops._engines.with_driver`, the sync twin's ``lend``)
turns autocommit on instead, with ``SET autocommit`` sent only when the connection is not
in that mode already, and leaves it on: the next standalone read on that connection costs
its SELECT alone, and it is checked in without the ROLLBACK.

Any other checkout (a session, a Core connection, the application's raw connection)
turns autocommit off again before it is handed out, so a transaction never runs in
autocommit; a connection that alternates between reads and writes pays one ``SET`` per
switch, the round trip the ROLLBACK cost before. A read cancelled or cut off midway
invalidates its connection (``with_driver``), so none goes back in an unknown mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from . import _internals

DRIVERS = ("asyncmy", "pymysql")
READ_AUTOCOMMIT = "sqlops_read_autocommit"  # record info: a read turned autocommit on
ENDED = "sqlops_transaction_ended"  # record info: SQLAlchemy's COMMIT / ROLLBACK went through
_for_read: ContextVar[bool] = ContextVar("sqlops_autocommit_read", default=False)


def install(engine: Engine) -> None:
    """Turn autocommit off at every checkout that is not a standalone read's."""
    if engine.dialect.driver in DRIVERS:
        event.listen(engine, "checkout", _restore)


def reset_only_if_needed(engine: Engine) -> None:
    """Check connections in without the ROLLBACK when their transaction is already over.

    A session ends its transaction (COMMIT, or ROLLBACK at close) and then closes its
    connection, so the pool's reset-on-return sends a second ROLLBACK that has nothing to
    end: one round trip in three for a ``get`` in ``db.transaction()``. For engines whose
    pool reset is off (:func:`sqlops._engines.make_engine` turns it off for PyMySQL and
    asyncmy unless the application set ``pool_reset_on_return``), this hook rolls back
    unless SQLAlchemy's own COMMIT or ROLLBACK was the last command on the connection:
    no statement since (the driver's last reply carried no result set), and no
    transaction begun since (the server's in-transaction flag is clear).
    """
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        commit(dbapi_connection)
        _mark_ended(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        rollback(dbapi_connection)
        _mark_ended(dbapi_connection)

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]
    event.listen(engine, "reset", _reset)


def _mark_ended(fairy: Any) -> None:
    try:  # noqa: SIM105 - once per transaction: cheaper than contextlib.suppress
        fairy.info[ENDED] = True  # the pool's proxied connection: its record's info
    except (AttributeError, NotImplementedError):  # the dialect's first connect: no record
        pass


def _reset(dbapi_connection: Any, record: Any, state: Any) -> None:
    ended = record.info.pop(ENDED, False)
    if state.terminate_only or not state.asyncio_safe or state.transaction_was_reset:
        return  # closed instead / ended inline by Connection.close()
    driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)  # asyncmy's adapter
    if ended and _internals.mysql_no_result_since_command(driver) and not _in_transaction(driver):
        return
    dbapi_connection.rollback()


def _restore(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    if record.info.get(READ_AUTOCOMMIT) and not _for_read.get():
        try:
            dbapi_connection.autocommit(False)  # one round trip
        except Exception as exc:  # dead while pooled: the pool replaces it
            raise sa_exc.DisconnectionError("the server closed this connection") from exc
        del record.info[READ_AUTOCOMMIT]


@contextmanager
def checkout_for_read(enabled: bool = True) -> Iterator[None]:
    """Check a connection out for a standalone read: leave its autocommit on."""
    if not enabled:
        yield
        return
    token = _for_read.set(True)
    try:
        yield
    finally:
        _for_read.reset(token)


def must_switch(fairy: Any) -> bool:
    """Whether the read must send ``SET autocommit=1`` first (it is off); flag it if so.

    Flagged before it is sent: the checkout of a connection whose SET went through but
    whose reply was lost still turns it off. (One cut off midway is discarded anyway.)
    """
    if fairy.driver_connection.get_autocommit():
        return False
    fairy.info[READ_AUTOCOMMIT] = True
    return True


def release(fairy: Any) -> None:
    """Give ``fairy`` back; in autocommit with no transaction open, without the ROLLBACK."""
    driver = fairy.driver_connection
    if driver is not None and idle_in_autocommit(driver):
        _internals.checkin_reset(fairy)
    else:
        fairy.close()


def idle_in_autocommit(driver: Any) -> bool:
    """Whether a read left ``driver`` in autocommit with no transaction open (nothing to end)."""
    return bool(driver.get_autocommit()) and not _in_transaction(driver)


def _in_transaction(driver: Any) -> bool:
    status = getattr(driver, "get_transaction_status", None)  # asyncmy; PyMySQL has none
    if status is not None:
        return bool(status())
    return bool(driver.server_status & _IN_TRANS)


_IN_TRANS = 1  # SERVER_STATUS_IN_TRANS
