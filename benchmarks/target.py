"""Where a run happens: a throwaway database on a server, or a SQLite file in a temp dir."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sqlops._url import dialect_family, resolve_url
from sqlops.testing._throwaway import create_database, drop_database

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/mysql"  # MariaDB (or MySQL)
BACKENDS = ("postgresql", "sqlite", "mysql")

# sqlops puts SQLite in WAL mode with synchronous=NORMAL; every other SQLite implementation
# gets the same settings, so the comparison measures libraries, not durability settings.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA busy_timeout = 5000",
)


@dataclass(frozen=True)
class Target:
    """One database to benchmark against, as each kind of client wants its address."""

    backend: str
    url: URL  # SQLAlchemy async URL (postgresql+asyncpg / sqlite+aiosqlite / mysql+asyncmy)

    @property
    def dsn(self) -> str:
        """The libpq-style DSN asyncpg takes."""
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    @property
    def mysql_options(self) -> dict[str, Any]:
        """The keyword arguments ``asyncmy.connect`` takes."""
        url = self.url
        return {
            "host": url.host or "127.0.0.1",
            "port": url.port or 3306,
            "user": url.username or "root",
            "password": url.password or "",
            "database": url.database,
            "charset": "utf8mb4",
        }

    @property
    def path(self) -> str:
        """The SQLite database file."""
        return str(self.url.database)


@asynccontextmanager
async def provision(backend: str, server_url: str | URL | None = None) -> AsyncIterator[Target]:
    """Yield a fresh, empty database on ``backend``; drop (or delete) it afterwards.

    ``server_url`` is the server to create it on (default: the local one for ``backend``).
    """
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="sqlops-bench-") as tmp:
            yield Target("sqlite", make_url(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"))
        return
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if server_url is None:
        server_url = DEFAULT_MYSQL_URL if backend == "mysql" else DEFAULT_SERVER_URL
    family = dialect_family(resolve_url(server_url))
    if family != backend:
        raise ValueError(f"{backend} needs a {backend} server URL, not a {family} one")
    url = await create_database(server_url)
    try:
        yield Target(backend, url)
    finally:
        await drop_database(url)


def peer_engine(target: Target, **options: Any) -> AsyncEngine:
    """An engine with SQLAlchemy's defaults (plus the shared SQLite pragmas)."""
    engine = create_async_engine(target.url, **options)
    if target.backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()
