"""``sqlops doctor``'s server checks: settings that bite, per backend (PgBouncer apart).

Each check gets an open connection, the engine (for its pool settings) and
``add(name, status, detail, fix)``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

Add = Callable[..., None]
ServerCheck = Callable[[AsyncConnection, AsyncEngine, Add], Awaitable[None]]


def pool_setting(engine: AsyncEngine, attr: str, default: Any) -> Any:
    """A setting of the engine's pool (``_pre_ping``, ``_recycle``…), or ``default``.

    SQLAlchemy keeps them as private pool attributes; a pool class without one (NullPool
    has no overflow) gets the default.
    """
    return getattr(engine.pool, attr, default)


async def _scalar(conn: AsyncConnection, sql: str) -> Any:
    value = (await conn.exec_driver_sql(sql)).scalar()
    await conn.rollback()
    return value


# ---------------------------------------------------------------------- PostgreSQL


async def idle_in_transaction(conn: AsyncConnection, engine: AsyncEngine, add: Add) -> None:
    """Warn when the server never ends a session left idle inside a transaction."""
    value = await _scalar(conn, "SHOW idle_in_transaction_session_timeout")
    if str(value) in ("0", "0ms"):
        add(
            "idle in transaction",
            "warn",
            "idle_in_transaction_session_timeout=0 (never): a task that dies mid-transaction "
            "holds its locks and its connection until someone notices",
            "ALTER DATABASE <db> SET idle_in_transaction_session_timeout = '5min' (or per role)",
        )
    else:
        add("idle in transaction", "ok", f"idle_in_transaction_session_timeout={value}")


# ---------------------------------------------------------------------- MariaDB / MySQL


async def wait_timeout(conn: AsyncConnection, engine: AsyncEngine, add: Add) -> None:
    """The server closes idle connections after wait_timeout; the pool must recycle sooner."""
    server = int(await _scalar(conn, "SELECT @@SESSION.wait_timeout"))
    recycle = int(pool_setting(engine, "_recycle", -1))
    shown = f"{recycle}s" if recycle >= 0 else "never"
    if 0 <= recycle < server:
        add("wait_timeout", "ok", f"pool_recycle={shown} < wait_timeout={server}s")
        return
    pre_ping = pool_setting(engine, "_pre_ping", False)
    add(
        "wait_timeout",
        "warn" if pre_ping else "fail",
        f"the server closes connections idle for wait_timeout={server}s but the pool "
        f"recycles them {'after ' + shown if recycle >= 0 else 'never'}: "
        + (
            "pre-ping replaces them, at one extra round trip each"
            if pre_ping
            else "the first query on such a connection fails with 'server has gone away'"
        ),
        f"pool_recycle={max(server - 60, 1)} (below wait_timeout), and pool_pre_ping=True",
    )


# ---------------------------------------------------------------------- SQLite


async def sqlite_pragmas(conn: AsyncConnection, engine: AsyncEngine, add: Add) -> None:
    """WAL lets readers and a writer work at once; foreign keys are off unless asked for."""
    journal = str(await _scalar(conn, "PRAGMA journal_mode")).lower()
    if journal == "wal":
        add("journal_mode", "ok", "wal")
    elif journal == "memory":
        add("journal_mode", "ok", "memory (in-memory database)")
    else:
        add(
            "journal_mode",
            "warn",
            f"{journal}: a writer blocks every reader, and readers block the writer",
            "PRAGMA journal_mode = WAL on connect (sqlops.Database does this)",
        )
    if await _scalar(conn, "PRAGMA foreign_keys"):
        add("foreign_keys", "ok", "on")
    else:
        add(
            "foreign_keys",
            "fail",
            "off: SQLite ignores REFERENCES and ON DELETE CASCADE, so orphans pile up",
            "PRAGMA foreign_keys = ON on every connection (sqlops.Database does this)",
        )
