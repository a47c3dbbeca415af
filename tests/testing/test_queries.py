"""count_queries / assert_max_queries, on every backend."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

import sqlops
from sqlops.testing import QueryCounter, assert_max_queries, count_queries
from tests.models import Team, User


async def test_counts_every_statement_in_order(db: sqlops.Database) -> None:
    async with db.session() as session:
        with count_queries() as q:
            await session.execute(select(User))
            await session.execute(select(Team).where(Team.name == "x"))
    assert q.count == 2
    assert "FROM users" in q.statements[0] and "FROM teams" in q.statements[1]


async def test_transaction_control_is_left_out_unless_asked(db: sqlops.Database) -> None:
    async with db.session() as session:
        await session.execute(select(User))
        with count_queries() as plain, count_queries(include_transaction_control=True) as full:
            async with session.begin_nested():
                await session.execute(select(User))
    assert plain.count == 1
    assert [sql.split()[0].upper() for sql in full.statements] == ["SAVEPOINT", "SELECT", "RELEASE"]


async def test_targets_limit_what_is_counted(db: sqlops.Database) -> None:
    other = sqlops.Database(db.url)
    try:
        with count_queries(db) as mine, count_queries(other.engine) as theirs:
            for database, sql in ((db, "SELECT 1"), (other, "SELECT 2")):
                async with database.engine.connect() as conn:
                    await conn.execute(text(sql))
    finally:
        await other.dispose()
    assert mine.statements == ["SELECT 1"]
    assert theirs.statements == ["SELECT 2"]


async def test_counter_stops_counting_after_the_block(db: sqlops.Database) -> None:
    async with db.session() as session:
        with count_queries() as q:
            await session.execute(select(User))
        await session.execute(select(User))
    assert q.count == 1


async def test_assert_max_queries_passes_within_budget(db: sqlops.Database) -> None:
    async with db.session() as session:
        with assert_max_queries(1) as q:
            await session.execute(select(User))
    assert isinstance(q, QueryCounter) and q.count == 1


async def test_assert_max_queries_fails_listing_statements(db: sqlops.Database) -> None:
    async with db.session() as session:
        with pytest.raises(AssertionError) as caught, assert_max_queries(1):
            await session.execute(select(User).where(User.name == "one"))
            await session.execute(select(Team).where(Team.name == "two"))
    lines = str(caught.value).splitlines()
    assert lines[0] == "expected at most 1 queries, 2 were sent:"
    assert lines[1].startswith("1. SELECT") and "WHERE users.name =" in lines[1]
    assert lines[2].startswith("2. SELECT") and "WHERE teams.name =" in lines[2]


async def test_errors_inside_the_block_are_not_masked(db: sqlops.Database) -> None:
    async with db.session() as session:
        with pytest.raises(ZeroDivisionError), assert_max_queries(0):
            await session.execute(select(User))
            _ = 1 / 0


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="limit must be an integer"), assert_max_queries(-1):
        pass
    with pytest.raises(TypeError, match="not str"), count_queries("postgresql://x"):  # type: ignore[arg-type]
        pass
