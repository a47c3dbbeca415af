"""Fixtures for the FastAPI glue tests: a database with the app's schema and a client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.engine import URL

import sqlops

from .app import Base, make_app


@pytest.fixture
async def api_db(url: URL | str) -> AsyncIterator[sqlops.Database]:
    database = sqlops.Database(url)
    await database.drop_all(Base.metadata)
    await database.create_all(Base.metadata)
    try:
        yield database
    finally:
        await database.drop_all(Base.metadata)
        await database.dispose()


@pytest.fixture
async def client(api_db: sqlops.Database) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(api_db), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
