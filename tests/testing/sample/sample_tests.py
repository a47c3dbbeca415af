"""The sample user project's tests (copied to test_sample.py in a pytester directory).

Two tests fail on purpose (over the query budget; an N+1 loop) and one errors at teardown
(a leaked session); the plugin's own tests check that they do, and what they say.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import sqlops
from models import Author, Book


async def authors_in(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Author)) or 0)


async def test_commit_inside_a_test_is_visible_to_it(db_session: AsyncSession) -> None:
    db_session.add(Author(name="ada"))
    await db_session.commit()
    assert await authors_in(db_session) == 1


async def test_the_previous_commit_is_gone(db_session: AsyncSession) -> None:
    assert await authors_in(db_session) == 0


async def test_standalone_repository_commits_inside_the_test(
    rollback_db: sqlops.Database,
) -> None:
    authors = sqlops.Repository(Author, rollback_db)
    await authors.create(name="grace")
    assert await authors.count() == 1


async def test_standalone_commits_are_gone_too(
    rollback_db: sqlops.Database, db_session: AsyncSession
) -> None:
    assert await sqlops.Repository(Author, rollback_db).count() == 0
    assert await authors_in(db_session) == 0


async def test_constraint_violation_in_savepoint_leaves_session_usable(
    db_session: AsyncSession,
) -> None:
    db_session.add(Author(name="bob"))
    await db_session.flush()
    with pytest.raises(sqlops.UniqueViolation):
        async with db_session.begin_nested():
            db_session.add(Author(name="bob"))
            await db_session.flush()
    db_session.add(Author(name="carol"))
    await db_session.commit()
    assert await authors_in(db_session) == 2


async def test_count_queries(db_session: AsyncSession, count_queries: Any) -> None:
    with count_queries() as q:
        await db_session.execute(select(Author))
    assert q.count == 1
    assert "FROM authors" in q.statements[0]


async def test_over_the_query_budget(db_session: AsyncSession, assert_max_queries: Any) -> None:
    with assert_max_queries(1):
        await db_session.execute(select(Author).where(Author.name == "budget-one"))
        await db_session.execute(select(Book).where(Book.title == "budget-two"))


async def add_authors_with_books(session: AsyncSession, count: int) -> None:
    for number in range(count):
        author = Author(name=f"author {number}")
        author.books = [Book(title=f"book {number}")]
        session.add(author)
    await session.commit()
    session.expunge_all()


async def test_n_plus_one_loop(db_session: AsyncSession) -> None:
    await add_authors_with_books(db_session, 10)
    for author in await db_session.scalars(select(Author)):
        await author.awaitable_attrs.books


async def test_no_n_plus_one_with_load(db_session: AsyncSession, assert_max_queries: Any) -> None:
    await add_authors_with_books(db_session, 10)
    with assert_max_queries(2):
        authors = await sqlops.Repository(Author, db_session).list(load=["books"])
    assert [len(author.books) for author in authors] == [1] * 10


async def test_session_wide_database(sqlops_db: sqlops.Database) -> None:
    await sqlops_db.ping()
    assert await sqlops.Repository(Author, sqlops_db).count() == 0


_kept: list[object] = []


async def test_leaked_session(rollback_db: sqlops.Database) -> None:
    opener = rollback_db.session()
    _kept.append(opener)  # never exited: the session is never closed
    await opener.__aenter__()
