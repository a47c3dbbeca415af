"""Make ``sqlmodel_users`` importable; each test gets an empty database and a client."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL

import sqlops

sys.path.insert(0, str(Path(__file__).parent))

from sqlmodel_users.app import create_app
from sqlmodel_users.models import Base


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
    app = create_app(db)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://users") as http,
    ):
        yield http
