"""Database URLs: defaults, async drivers filled in, passwords never shown."""

from __future__ import annotations

import importlib.util
import os
import sys

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ._errors import InvalidURLError, MissingDependencyError, SqlopsError

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

# The sync twin (sqlops.sync): what a plain scheme becomes, and the sync driver to use
# instead of each async one.
SYNC_DEFAULT_URL = "sqlite:///./sqlops.db"
_SYNC_DRIVER = {"postgresql": "psycopg", "mysql": "pymysql", "mariadb": "pymysql", "sqlite": ""}
_SYNC_SUPPORTED = {"psycopg", "pymysql", "pysqlite"}
_ASYNC_TO_SYNC = {
    "asyncpg": "psycopg",
    "psycopg_async": "psycopg",
    "asyncmy": "pymysql",
    "aiomysql": "pymysql",
    "aiosqlite": "",
}

# The module each async driver is, and the extra (or package) that installs it.
_DRIVER_PACKAGES = {
    "asyncpg": ("asyncpg", "sqlops[postgresql]"),
    "asyncmy": ("asyncmy", "sqlops[mysql]"),
    "aiosqlite": ("aiosqlite", "sqlops"),
    "psycopg": ("psycopg", "psycopg[binary]"),
    "psycopg_async": ("psycopg", "psycopg[binary]"),
    "aiomysql": ("aiomysql", "aiomysql"),
    "pymysql": ("pymysql", "sqlops[mysql-sync]"),
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
    parsed = parse_url(raw)
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


class AsyncDriverError(SqlopsError, ValueError):
    """The URL names an async driver, which the sync twin (``sqlops.sync``) cannot use."""


def resolve_sync_url(url: str | URL | None) -> URL:
    """Return the sync URL for ``url``, ``$DATABASE_URL`` or the embedded default.

    ``postgresql://`` gets psycopg (3), ``mysql://`` / ``mariadb://`` PyMySQL, ``sqlite://``
    the standard library's sqlite3. An async driver (``+asyncpg``) is refused with the
    sync one to use instead.
    """
    raw = url if url is not None else os.environ.get("DATABASE_URL") or SYNC_DEFAULT_URL
    parsed = parse_url(raw)
    backend, _, driver = parsed.drivername.partition("+")
    backend = "postgresql" if backend == "postgres" else backend
    if not driver:
        driver = _SYNC_DRIVER.get(backend, "")
    elif driver in _ASYNC_TO_SYNC or driver not in _SYNC_SUPPORTED:
        better = _ASYNC_TO_SYNC.get(driver, _SYNC_DRIVER.get(backend, ""))
        kind = "an async driver" if driver in _ASYNC_TO_SYNC else "not supported by sqlops.sync"
        scheme = f"{backend}+{better}" if better else backend
        raise AsyncDriverError(
            f"{backend}+{driver} is {kind}; sqlops.sync needs {scheme}:// (or plain {backend}://)"
        )
    return parsed.set(drivername=f"{backend}+{driver}" if driver else backend)


def parse_url(raw: str | URL) -> URL:
    """``make_url``, with anything that is not a URL refused in one line."""
    try:
        parsed = make_url(raw)
        parsed.port  # noqa: B018 - a port that is not a number fails only when read
    except (ArgumentError, ValueError) as exc:
        shown = raw if isinstance(raw, str) else repr(raw)
        raise InvalidURLError(
            f"not a database URL: {_mask(shown)!r} (expected backend://user@host:port/database)"
        ) from exc
    return parsed


def _mask(raw: str) -> str:
    """``raw`` with any ``:password@`` hidden, for messages about a URL that did not parse."""
    scheme, sep, rest = raw.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return raw
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


def require_driver(url: URL) -> None:
    """Refuse, in one line naming what to install, a URL whose driver is not installed."""
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if driver not in _DRIVER_PACKAGES:
        return
    module, package = _DRIVER_PACKAGES[driver]
    if sys.modules.get(module) or importlib.util.find_spec(module):
        return
    raise MissingDependencyError(
        f"{backend}+{driver}:// needs the {driver} driver: pip install '{package}'",
        extra=package.partition("[")[2].rstrip("]") or None,
        name=module,
    )


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
