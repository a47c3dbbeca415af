"""The core suite's schema fixture; backends come from the root conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import URL

import sqlops
from tests.models import Base


@pytest.fixture
async def db(url: URL | str) -> AsyncIterator[sqlops.Database]:
    """A Database with the test schema created, dropped afterwards."""
    database = sqlops.Database(url)
    await database.drop_all(Base.metadata)
    await database.create_all(Base.metadata)
    try:
        yield database
    finally:
        await database.drop_all(Base.metadata)
        await database.dispose()
