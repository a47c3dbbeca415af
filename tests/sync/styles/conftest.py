"""The model-style matrix (tests/styles) run on the sync API.

The styles conftest's fixtures are imported as they are; only ``schemas`` differs: its
Databases are :class:`TwinDatabase` objects over ``sync.Database``, so every table,
``env.db.transaction()`` and repository of the style tests goes through the sync twin
(``sqlops.Repository`` builds sync repositories, see ``twin_api``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.engine import URL

import sqlops
from sqlops import sync
from tests.routes import parametrize_routes, sqlops_route
from tests.styles.conftest import (
    Schemas,
    combo,
    env,
    inheritance_combo,
    inheritance_env,
    mode,
    plain_combo,
    plain_env,
    soft_combo,
    soft_env,
    sqlite_url,
    upsert_combo,
    upsert_env,
)
from tests.styles.models import Style
from tests.sync._twin import TwinDatabase, sync_url, twin_database, twin_repository

__all__ = [
    "combo",
    "env",
    "inheritance_combo",
    "inheritance_env",
    "mode",
    "plain_combo",
    "plain_env",
    "soft_combo",
    "soft_env",
    "sqlite_url",
    "sqlops_route",
    "upsert_combo",
    "upsert_env",
]

# The styles conftest's ROUTED_SUITES, under their names here.
ROUTED_SUITES = {
    "test_contract_styles_methods",
    "test_contract_styles_violations",
    "test_contract_styles_injected",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_routes(metafunc, ROUTED_SUITES)


class TwinSchemas(Schemas):
    """The styles' Schemas, each backend's Database a sync one behind an awaitable face."""

    async def database(self, style: Style, backend: str, url: URL | str) -> sqlops.Database:
        if backend not in self.dbs:
            self.dbs[backend] = TwinDatabase(sync.Database(sync_url(url)))
        return await super().database(style, backend, url)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def schemas(servers: Any) -> AsyncIterator[Schemas]:
    """Depends on ``servers`` so its engines are disposed before the databases are dropped."""
    holder = TwinSchemas()
    yield holder
    await holder.close()


@pytest.fixture(autouse=True)
def twin_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """``sqlops.Repository`` / ``sqlops.Database`` build the sync twin's objects."""
    monkeypatch.setattr(sqlops, "Repository", twin_repository)
    monkeypatch.setattr(sqlops, "Database", twin_database)
