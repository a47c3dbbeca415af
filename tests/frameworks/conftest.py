"""A database with the framework tests' schema, and rows to list."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import URL

import sqlops
import sqlops.litestar

from .models import Author, Base

PEOPLE = [("Ada", 36), ("Bob", 25), ("Cy", 41), ("Di", None)]


@pytest.fixture
async def fw_db(url: URL | str) -> AsyncIterator[sqlops.Database]:
    database = sqlops.Database(url, cursor_secret="frameworks-tests")
    await database.drop_all(Base.metadata)
    await database.create_all(Base.metadata)
    try:
        yield database
    finally:
        await database.drop_all(Base.metadata)
        await database.dispose()


@pytest.fixture
async def authors(fw_db: sqlops.Database) -> None:
    await sqlops.Repository(Author, fw_db).create_many(
        {"email": f"{name.lower()}@x.org", "name": name, "age": age} for name, age in PEOPLE
    )
