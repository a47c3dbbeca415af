"""Fixtures of the model-style matrix: one schema per style per backend, shared by tests.

Tables are created once per style and backend (the first test that needs them) and
dropped at the end of the session; each test tags its rows with its own token and only
ever reads rows carrying it, so tests never see each other's data.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Table
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

import sqlops
from sqlops._translate import register_metadata
from tests.routes import parametrize_routes, sqlops_route
from tests.styles.models import (
    JOINED,
    PLAIN,
    SINGLE,
    SQLMODEL,
    STYLES,
    Style,
    sqlmodel_tables,
)

_tokens = itertools.count()
# Every model style runs each of these twice: the fast route and the ORM session's.
ROUTED_SUITES = {"test_methods", "test_violations", "test_injected"}
__all__ = ["sqlops_route"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_routes(metafunc, ROUTED_SUITES)


def _tables(style: Style) -> list[Table]:
    return sqlmodel_tables() if style is SQLMODEL else style.tables


class Schemas:
    """One Database per backend (in the session's loop), each style's tables created once."""

    def __init__(self) -> None:
        self.dbs: dict[str, sqlops.Database] = {}
        self.created: list[tuple[Style, sqlops.Database]] = []

    async def database(self, style: Style, backend: str, url: URL | str) -> sqlops.Database:
        db = self.dbs.get(backend)
        if db is None:
            db = self.dbs[backend] = sqlops.Database(url)
        if not any(s is style and d is db for s, d in self.created):
            await self._create(style, db)
            self.created.append((style, db))
        return db

    async def _create(self, style: Style, db: sqlops.Database) -> None:
        tables = _tables(style)
        register_metadata(style.metadata)
        async with db.engine.begin() as conn:
            if style.schema:
                await conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {style.schema}")
            await conn.run_sync(lambda c: style.metadata.drop_all(c, tables=tables))
            await conn.run_sync(lambda c: style.metadata.create_all(c, tables=tables))

    async def close(self) -> None:
        for style, db in reversed(self.created):
            tables = _tables(style)
            async with db.engine.begin() as conn:
                await conn.run_sync(lambda c, t=tables, s=style: s.metadata.drop_all(c, tables=t))
        for db in self.dbs.values():
            await db.dispose()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def schemas(servers: Any) -> AsyncIterator[Schemas]:
    """Depends on ``servers`` so its engines are disposed before the databases are dropped."""
    holder = Schemas()
    yield holder
    await holder.close()


COMBOS = [
    pytest.param(
        (style, backend), marks=getattr(pytest.mark, backend), id=f"{style.name}-{backend}"
    )
    for style in STYLES
    for backend in style.backends
]


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("styles") / "styles.db"
    return f"sqlite+aiosqlite:///{path}"


SOFT_DELETE_COMBOS = [p for p in COMBOS if p.values[0][0].soft_delete]
PLAIN_COMBOS = [p for p in COMBOS if p.values[0][0] is PLAIN]
INHERITANCE_COMBOS = [p for p in COMBOS if p.values[0][0] in (JOINED, SINGLE)]
# styles whose upsert can clash on a unique key other than the primary key
UPSERT_COMBOS = [
    p
    for p in COMBOS
    if p.values[0][0].upsert and set(p.values[0][0].unique) != set(p.values[0][0].pk_keys)
]


def _combo(request: pytest.FixtureRequest, servers: Any, sqlite_url: str) -> Any:
    style, backend = request.param
    url = sqlite_url if backend == "sqlite" else servers.url(backend)
    return style, backend, url


@pytest.fixture(params=COMBOS)
def combo(request: pytest.FixtureRequest, servers: Any, sqlite_url: str) -> Any:
    return _combo(request, servers, sqlite_url)


@pytest.fixture(params=SOFT_DELETE_COMBOS)
def soft_combo(request: pytest.FixtureRequest, servers: Any, sqlite_url: str) -> Any:
    return _combo(request, servers, sqlite_url)


@pytest.fixture(params=INHERITANCE_COMBOS)
def inheritance_combo(request: pytest.FixtureRequest, servers: Any, sqlite_url: str) -> Any:
    return _combo(request, servers, sqlite_url)


@pytest.fixture(params=UPSERT_COMBOS)
def upsert_combo(request: pytest.FixtureRequest, servers: Any, sqlite_url: str) -> Any:
    return _combo(request, servers, sqlite_url)


@pytest.fixture(params=PLAIN_COMBOS)
def plain_combo(request: pytest.FixtureRequest, servers: Any, sqlite_url: str) -> Any:
    return _combo(request, servers, sqlite_url)


@pytest.fixture(params=["standalone", "injected"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass
class Repos:
    """The main model's and the child's repositories, bound per mode."""

    main: sqlops.Repository[Any]
    child: sqlops.Repository[Any]
    session: AsyncSession | None  # the injected session, None standalone


@dataclass
class Env:
    """A style on a backend, its Database, and this test's own tag."""

    style: Style
    backend: str
    db: sqlops.Database
    tag: str

    def row(self, i: int, **changes: Any) -> dict[str, Any]:
        return {**self.style.row(self.tag, i), **changes}

    @property
    def only_mine(self) -> dict[str, Any]:
        """The filter that selects this test's rows."""
        return {self.style.tag: self.tag}

    @asynccontextmanager
    async def repos(self, mode: str) -> AsyncIterator[Repos]:
        style = self.style
        if mode == "standalone":
            db = self.db
            yield Repos(
                sqlops.Repository(style.model, db), sqlops.Repository(style.child, db), None
            )
            return
        async with self.db.transaction() as session:
            yield Repos(
                sqlops.Repository(style.model, session),
                sqlops.Repository(style.child, session),
                session,
            )

    def standalone(self) -> sqlops.Repository[Any]:
        return sqlops.Repository(self.style.model, self.db)


async def _env(combo: Any, schemas: Schemas) -> Env:
    style, backend, url = combo
    db = await schemas.database(style, backend, url)
    return Env(style, backend, db, f"t{next(_tokens)}")


@pytest_asyncio.fixture(loop_scope="session")
async def env(combo: Any, schemas: Schemas) -> Env:
    """A style on a backend, with its tables, and a fresh tag for this test's rows."""
    return await _env(combo, schemas)


@pytest_asyncio.fixture(loop_scope="session")
async def plain_env(plain_combo: Any, schemas: Schemas) -> Env:
    """Like ``env``, for the plain DeclarativeBase style only (once per backend)."""
    return await _env(plain_combo, schemas)


@pytest_asyncio.fixture(loop_scope="session")
async def inheritance_env(inheritance_combo: Any, schemas: Schemas) -> Env:
    """Like ``env``, for the joined and single-table inheritance styles."""
    return await _env(inheritance_combo, schemas)


@pytest_asyncio.fixture(loop_scope="session")
async def upsert_env(upsert_combo: Any, schemas: Schemas) -> Env:
    """Like ``env``, for the styles whose unique key is not the primary key."""
    return await _env(upsert_combo, schemas)


@pytest_asyncio.fixture(loop_scope="session")
async def soft_env(soft_combo: Any, schemas: Schemas) -> Env:
    """Like ``env``, for the styles whose main model has a SoftDelete column."""
    return await _env(soft_combo, schemas)
