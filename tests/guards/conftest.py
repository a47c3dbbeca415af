"""Databases with the runtime guards switched on, over the core test schema."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy.engine import URL

import sqlops
from tests.models import Post, User

MakeDb = Callable[..., Awaitable[sqlops.Database]]


@pytest.fixture
async def make_db(db: sqlops.Database, url: URL | str) -> AsyncIterator[MakeDb]:
    """Build more Databases on the test schema (``db`` made it); all disposed at the end."""
    made: list[sqlops.Database] = []

    async def make(**options: object) -> sqlops.Database:
        made.append(sqlops.Database(url, **options))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for database in made:
        await database.dispose()


async def add_users_with_posts(db: sqlops.Database, count: int) -> None:
    """``count`` users named u0..u<count-1>, each with one post."""
    async with db.transaction() as session:
        for number in range(count):
            user = User(email=f"u{number}@example.com", name=f"u{number}")
            user.posts = [Post(title=f"post {number}")]
            session.add(user)
