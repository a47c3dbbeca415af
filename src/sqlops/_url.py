"""Database URLs: defaults, async drivers filled in, passwords never shown."""

from __future__ import annotations

import os

from sqlalchemy.engine import URL, make_url

from ._errors import SqlopsError

DEFAULT_URL = "sqlite+aiosqlite:///./sqlops.db"

# What a plain scheme becomes, and which drivers are async.
_ASYNC_DRIVER = {
    "postgresql": "asyncpg",
    "postgres": "asyncpg",
    "mysql": "asyncmy",
    "mariadb": "asyncmy",
    "sqlite": "aiosqlite",
}
_ASYNC_DRIVERS = {"asyncpg", "psycopg", "psycopg_async", "asyncmy", "aiomysql", "aiosqlite"}
_SYNC_DRIVERS = {
    "psycopg2": "asyncpg",
    "pg8000": "asyncpg",
    "pymysql": "asyncmy",
    "mysqldb": "asyncmy",
    "mysqlconnector": "asyncmy",
    "pysqlite": "aiosqlite",
}


class SyncDriverError(SqlopsError, ValueError):
    """The URL names a blocking driver, which cannot run under asyncio."""


def resolve_url(url: str | URL | None) -> URL:
    """Return the async URL for ``url``, ``$DATABASE_URL`` or the embedded default.

    ``postgresql://`` / ``postgres://`` get asyncpg, ``mysql://`` / ``mariadb://`` get
    asyncmy, ``sqlite://`` gets aiosqlite. A blocking driver (``+psycopg2``) is refused
    with the async one to use instead.
    """
    raw = url if url is not None else os.environ.get("DATABASE_URL") or DEFAULT_URL
    parsed = make_url(raw)
    backend, _, driver = parsed.drivername.partition("+")
    backend = "postgresql" if backend == "postgres" else backend
    if not driver:
        driver = _ASYNC_DRIVER.get(backend, "")
    elif driver in _SYNC_DRIVERS:
        raise SyncDriverError(
            f"{backend}+{driver} is a blocking driver and cannot be used with asyncio; "
            f"use {backend}+{_SYNC_DRIVERS[driver]}:// (or plain {backend}://)"
        )
    return parsed.set(drivername=f"{backend}+{driver}" if driver else backend)


def dialect_family(url: URL) -> str:
    """``"postgresql"``, ``"mysql"`` (MariaDB too) or ``"sqlite"`` (or the backend name)."""
    backend = url.get_backend_name()
    return "mysql" if backend == "mariadb" else backend


def safe_url(url: URL) -> str:
    """Render ``url`` with its password masked."""
    return url.render_as_string(hide_password=True)


def is_memory_sqlite(url: URL) -> bool:
    """True for an in-memory SQLite database (one connection, shared by every task)."""
    database = url.database or ""
    return (dialect_family(url) == "sqlite" and database in ("", ":memory:")) or (
        "mode=memory" in database
    )
