"""Make ``squads`` importable; each test gets an empty database and an HTTP client."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL

import sqlops

sys.path.insert(0, str(Path(__file__).parent))

from squads.app import create_app
from squads.models import Base


@pytest.fixture
async def db(url: URL | str) -> AsyncIterator[sqlops.Database]:
    database = sqlops.Database(url)
    await database.drop_all(Base.metadata)
    await database.create_all(Base.metadata)
    try:
        yield database
    finally:
        await database.drop_all(Base.metadata)
        await database.dispose()


@pytest.fixture
async def client(db: sqlops.Database) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app, its lifespan running (startup ping, shutdown dispose)."""
    app = create_app(db)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://squads") as http,
    ):
        yield http
