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
_for_read: ContextVar[bool] = ContextVar("sqlops_autocommit_read", default=False)


def install(engine: Engine) -> None:
    """Turn autocommit off at every checkout that is not a standalone read's."""
    if engine.dialect.driver in DRIVERS:
        event.listen(engine, "checkout", _restore)


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
    if driver is not None and driver.get_autocommit() and not _in_transaction(driver):
        _internals.checkin_reset(fairy)
    else:
        fairy.close()


def _in_transaction(driver: Any) -> bool:
    status = getattr(driver, "get_transaction_status", None)  # asyncmy; PyMySQL has none
    if status is not None:
        return bool(status())
    return bool(driver.server_status & _IN_TRANS)


_IN_TRANS = 1  # SERVER_STATUS_IN_TRANS
