"""Throwaway databases on a server: create one with a random name, drop it afterwards."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from sqlops._errors import DatabaseUnavailableError, SqlopsError
from sqlops._url import dialect_family, require_driver, resolve_url, safe_url

PREFIX = "sqlops_test_"


def _admin_url(url: URL) -> URL:
    """The URL to connect to while creating or dropping (not the database itself)."""
    if dialect_family(url) == "postgresql":
        return url.set(database="postgres")
    # URL.set(database=None) keeps the database (None means "unchanged"): build it anew,
    # so a URL naming a database that does not exist yet still reaches the server.
    return URL.create(
        url.drivername, url.username, url.password, url.host, url.port, None, url.query
    )


async def create_database(url: str | URL, name: str | None = None) -> URL:
    """Create a fresh database on ``url``'s server; return the URL that points at it."""
    base = resolve_url(url)
    family = dialect_family(base)
    if family == "sqlite":
        raise ValueError("SQLite databases are files; use a temporary path instead")
    name = name or PREFIX + secrets.token_hex(6)
    async with _admin(base, f"create database {name}") as conn:
        if family == "postgresql":
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        else:
            await conn.exec_driver_sql(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
    return base.set(database=name)


async def drop_database(url: str | URL) -> None:
    """Drop the database ``url`` points at, disconnecting anyone still using it."""
    target = resolve_url(url)
    name = target.database
    if not name:
        raise ValueError("the URL names no database")
    async with _admin(target, f"drop database {name}") as conn:
        if dialect_family(target) == "postgresql":
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")


def _reason(exc: BaseException) -> str:
    """The driver's own error in one line: no "(Background on this error at: ...)" link."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines() or [""]
    return f"{type(cause).__name__}: {lines[0]}".rstrip(": ")


@asynccontextmanager
async def _admin(url: URL, doing: str) -> AsyncIterator[AsyncConnection]:
    """An autocommit connection to the server of ``url``; failures name what and where."""
    admin = _admin_url(url)
    require_driver(admin)
    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            yield conn
    except SqlopsError:
        raise
    except Exception as exc:
        raise DatabaseUnavailableError(
            f"cannot {doing} on {safe_url(admin)}: {_reason(exc)}"
        ) from exc
    finally:
        await engine.dispose()
