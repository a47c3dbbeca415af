"""Make ``baseball`` importable and give each test an empty baseball database."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

import sqlops

sys.path.insert(0, str(Path(__file__).parent))

from baseball.models import Base


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
