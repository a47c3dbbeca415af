"""One loop, one engine: a pooled connection opened by one event loop is refused on another."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncSession

from ._errors import SessionMisuseError

LOOP_KEY = "sqlops.loop"


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
