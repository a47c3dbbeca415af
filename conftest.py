"""Backends for every test (tests/, examples/): SQLite always, PostgreSQL / MariaDB if up.

Each server backend gets one throwaway database per test module (random name, all dropped
at the end of the run), so no module sees tables another left behind, whatever order the
modules run in (``pytest -n 2`` spreads them over workers). ``SQLOPS_REQUIRE_BACKENDS=sqlite,postgresql,mysql`` turns "unreachable, skip"
into a failure, which is what CI uses.

Override the servers with ``SQLOPS_TEST_POSTGRESQL_URL`` / ``SQLOPS_TEST_MYSQL_URL``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from sqlops.testing._throwaway import create_database, drop_database

SERVER_URLS = {
    "postgresql": os.environ.get(
        "SQLOPS_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    ),
    "mysql": os.environ.get("SQLOPS_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
}
BACKENDS = ("sqlite", "postgresql", "mysql")


def required_backends() -> set[str]:
    raw = os.environ.get("SQLOPS_REQUIRE_BACKENDS", "")
    return {b.strip() for b in raw.split(",") if b.strip()}


class _Servers:
    """Creates throwaway databases lazily, one per server backend and test module.

    The current module is noted before each test's fixtures are set up
    (``pytest_runtest_setup`` below); a fixture of a wider scope gets the database of the
    module that first asked.
    """

    def __init__(self) -> None:
        self.urls: dict[tuple[str, str], URL] = {}
        self.errors: dict[str, str] = {}

    def url(self, backend: str) -> URL:
        key = (backend, _CURRENT_MODULE)
        if key not in self.urls and backend not in self.errors:
            try:
                self.urls[key] = asyncio.run(create_database(SERVER_URLS[backend]))
            except Exception as exc:  # unreachable server: skip or fail below
                self.errors[backend] = f"{type(exc).__name__}: {exc}"
        if backend in self.errors:
            message = f"{backend} is not reachable ({self.errors[backend]})"
            if backend in required_backends():
                pytest.fail(f"{message}, but SQLOPS_REQUIRE_BACKENDS names it")
            pytest.skip(message)
        return self.urls[key]

    def close(self) -> None:
        for url in self.urls.values():
            asyncio.run(drop_database(url))


_CURRENT_MODULE = ""


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    global _CURRENT_MODULE
    _CURRENT_MODULE = str(item.path)


@pytest.fixture(scope="session")
def servers() -> Iterator[_Servers]:
    servers = _Servers()
    try:
        yield servers
    finally:
        servers.close()


@pytest.fixture(
    params=[pytest.param(b, marks=getattr(pytest.mark, b)) for b in BACKENDS],
)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(backend: str, servers: _Servers, tmp_path: Path) -> URL | str:
    """A URL for an empty database on ``backend``."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    return servers.url(backend)


@pytest.fixture
async def server_url(url: URL | str) -> URL | str:
    """Alias of ``url`` for readability in example tests."""
    return url
