"""The sqlops pytest plugin (registered as ``pytest11``; see docs/testing.md).

Fixtures: ``sqlops_db`` (session-wide Database on a throwaway database), ``rollback_db``
(a Database inside the test's transaction), ``db_session`` (an AsyncSession in it),
``count_queries``, ``assert_max_queries``; overridable: ``sqlops_metadata``,
``sqlops_database_options``. Nothing happens — no import beyond this module, no
connection — until a test asks for one of them.
"""

from __future__ import annotations

import os
import types
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sqlalchemy import MetaData
    from sqlalchemy.ext.asyncio import AsyncSession

    from sqlops import Database
    from sqlops.testing._kit import Kit


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sqlops")
    group.addoption(
        "--sqlops-url",
        dest="sqlops_url",
        default=None,
        metavar="URL",
        help="database server for the sqlops fixtures; a throwaway database is created on "
        "it and dropped at the end (default: $SQLOPS_TEST_URL, else SQLite in a temp dir)",
    )
    parser.addini(
        "sqlops_alembic",
        "build the sqlops test schema by Alembic migrations: an alembic.ini, a pyproject.toml "
        "with [tool.sqlops], or a migrations directory (relative to the ini file)",
        default=None,
    )


# ----------------------------------------------------------------------------- overridable


@pytest.fixture(scope="session")
def sqlops_metadata() -> MetaData | None:
    """The ``MetaData`` whose tables the test database gets; override it in conftest.py.

    The default is ``sqlops.models.Base.metadata``, which holds your tables if your
    models derive from ``sqlops.models.Base``. Ignored when ``sqlops_alembic`` is set.
    """
    from sqlops.models import Base

    return Base.metadata


@pytest.fixture(scope="session")
def sqlops_database_options() -> dict[str, Any]:
    """Extra ``Database(...)`` keyword arguments for the test databases; override to change.

    Merged over the kit's defaults ``n_plus_one="raise"``, ``leaked_sessions="warn"``.
    """
    return {}


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def _sqlops_kit(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Kit]:
    from sqlops.testing._kit import ENV_URL, Kit

    url = request.config.getoption("sqlops_url") or os.environ.get(ENV_URL)
    if not url:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlops') / 'test.db'}"
    alembic = _alembic_location(request.config)
    metadata = None if alembic else request.getfixturevalue("sqlops_metadata")
    options = request.getfixturevalue("sqlops_database_options")
    kit = Kit.start(url, metadata=metadata, alembic=alembic, options=options)
    yield kit
    kit.close()


def _alembic_location(config: pytest.Config) -> Path | None:
    value = config.getini("sqlops_alembic")
    if not value:
        return None
    base = config.inipath.parent if config.inipath else config.rootpath
    return (base / str(value)).resolve()


@pytest.fixture(scope="session")
def sqlops_db(_sqlops_kit: Kit) -> Database:
    """The session-wide Database on the test database; what it commits stays committed.

    It has no connection pool, so it works from any event loop; for tests that leave
    nothing behind use ``rollback_db`` / ``db_session`` instead.
    """
    return _sqlops_kit.database


@pytest.fixture
async def rollback_db(_sqlops_kit: Kit, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """A Database whose every session joins this test's transaction, rolled back at the end.

    Hand it to code that takes a Database (``Repository(Model, rollback_db)``): its
    commits release savepoints, and nothing outlives the test.
    """
    from sqlops.testing._rollback import rolled_back

    if getattr(request.node, "_loop_scope", None) == "function":
        # A loop that lives for one test: a pool would be made, used once and disposed;
        # the pool-less session-wide Database saves making the engine each time.
        base = _sqlops_kit.database
    else:
        base = await _sqlops_kit.loop_database()
    async with rolled_back(base) as bound:
        yield bound


@pytest.fixture
async def db_session(rollback_db: Database) -> AsyncIterator[AsyncSession]:
    """An AsyncSession in this test's transaction; commits included, all is rolled back."""
    async with rollback_db.session() as session:
        yield session


@pytest.fixture(scope="session")
def sqlops_sync_db(_sqlops_kit: Kit) -> Iterator[Any]:
    """A ``sqlops.sync.Database`` on the test database (sync driver); commits stay."""
    from sqlops.testing._sync import sync_database

    db = sync_database(_sqlops_kit.url, _sqlops_kit.options)
    yield db
    db.dispose()


@pytest.fixture
def sync_db_session(sqlops_sync_db: Any) -> Iterator[Any]:
    """A sync ``Session`` in this test's transaction; commits included, all is rolled back."""
    from sqlops.testing._sync import rolled_back_session

    with rolled_back_session(sqlops_sync_db) as session:
        yield session


@pytest.fixture
def count_queries() -> Callable[..., Any]:
    """``with count_queries() as q: ...`` then ``q.count`` and ``q.statements``."""
    from sqlops.testing._queries import count_queries

    return count_queries


@pytest.fixture
def assert_max_queries() -> Callable[..., Any]:
    """``with assert_max_queries(2): ...`` fails listing the statements if more ran."""
    from sqlops.testing._queries import assert_max_queries

    return assert_max_queries


# ----------------------------------------------------------------------------- event loops

_ASYNC_FIXTURES = frozenset({"rollback_db", "db_session"})
_variants: dict[tuple[Any, str], Callable[..., Any]] = {}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> Any:
    """Run our async fixtures in the same event loop as the test that uses them.

    pytest-asyncio runs a fixture in the loop of ``asyncio_default_fixture_loop_scope``,
    which need not be the test's (``loop_scope="session"`` tests with function-scoped
    fixture loops, say); a connection opened in one loop cannot be used in another. So
    for pytest-asyncio tests we hand it a copy of the fixture marked with the test's own
    loop scope. anyio tests are left to anyio, which runs fixtures in the test's loop.
    """
    func = fixturedef.func
    if (
        fixturedef.argname not in _ASYNC_FIXTURES
        or getattr(func, "__module__", None) != __name__
        or "anyio_backend" in request.fixturenames
    ):
        return (yield)
    loop_scope = getattr(request.node, "_loop_scope", None)
    if not isinstance(loop_scope, str):
        return (yield)
    fixturedef.func = _asyncio_variant(func, loop_scope)
    try:
        return (yield)
    finally:
        fixturedef.func = func


def _asyncio_variant(func: Any, loop_scope: str) -> Callable[..., Any]:
    """A copy of ``func`` that pytest-asyncio will run in the ``loop_scope`` loop."""
    key = (func, loop_scope)
    if key not in _variants:
        variant: Any = types.FunctionType(
            func.__code__, func.__globals__, func.__name__, func.__defaults__, func.__closure__
        )
        variant.__kwdefaults__ = func.__kwdefaults__
        variant.__qualname__ = func.__qualname__
        variant._force_asyncio_fixture = True  # pytest-asyncio's own marks
        variant._loop_scope = loop_scope
        _variants[key] = variant
    return _variants[key]
