"""rolled_back(): a Database inside one transaction that is rolled back, on every backend."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import sqlops
from sqlops._guards import SessionLeakWarning
from sqlops.testing import BoundDatabase, rolled_back
from tests.models import Team


async def team_names(session: AsyncSession) -> list[str]:
    return list((await session.scalars(select(Team.name).order_by(Team.name))).all())


async def test_standalone_repository_commits_then_everything_is_rolled_back(
    db: sqlops.Database,
) -> None:
    async with rolled_back(db) as test_db:
        assert isinstance(test_db, BoundDatabase)
        teams = sqlops.Repository(Team, test_db)
        red = await teams.create(name="red")
        await test_db.run(lambda s: teams_in(s, "blue"))
        # Every read path of a standalone repository sees the test transaction's writes.
        assert await teams.count() == 2 and await teams.exists(name="red")
        assert (await teams.get_one(red.id)).name == "red"
        assert [t.name for t in await teams.list(order_by="name")] == ["blue", "red"]
        assert (await teams.page(per_page=1)).total == 2
        assert len((await teams.cursor_page(limit=5)).items) == 2
        assert [t.name async for t in teams.stream(order_by="name")] == ["blue", "red"]
        async with test_db.session() as session:  # another session sees the commits
            assert await team_names(session) == ["blue", "red"]
    assert await sqlops.Repository(Team, db).count() == 0
    assert "rolled-back test transaction" in repr(test_db)


async def teams_in(session: AsyncSession, name: str) -> None:
    session.add(Team(name=name))


async def test_a_failed_transaction_rolls_back_only_its_savepoint(db: sqlops.Database) -> None:
    async with rolled_back(db) as test_db:
        teams = sqlops.Repository(Team, test_db)
        await teams.create(name="red")
        with pytest.raises(sqlops.UniqueViolation):
            await teams.create(name="red")
        async with test_db.transaction(isolation="SERIALIZABLE", readonly=True) as session:
            assert await team_names(session) == ["red"]  # options ignored, data intact
        async with test_db.transaction() as session, test_db.savepoint(session):
            session.add(Team(name="green"))
        assert await teams.count() == 2


async def test_session_rollback_keeps_earlier_commits(db: sqlops.Database) -> None:
    async with rolled_back(db) as test_db, test_db.session() as session:
        session.add(Team(name="kept"))
        await session.commit()
        session.add(Team(name="dropped"))
        await session.flush()
        await session.rollback()
        assert await team_names(session) == ["kept"]


async def test_leaked_sessions_are_reported_and_still_rolled_back(db: sqlops.Database) -> None:
    tracked = sqlops.Database(db.url, leaked_sessions="warn")
    openers = []

    async def leak_a_session() -> None:
        async with rolled_back(tracked) as test_db:
            openers.append(test_db.session())
            session = await openers[0].__aenter__()
            session.add(Team(name="leaked"))
            await session.commit()

    try:
        with pytest.warns(SessionLeakWarning, match="rolled-back test transaction"):
            await leak_a_session()
        await openers[0].__aexit__(None, None, None)
    finally:
        await tracked.dispose()
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Team)) == 0


async def test_the_parent_database_stays_usable(db: sqlops.Database) -> None:
    async with rolled_back(db) as test_db:
        await sqlops.Repository(Team, test_db).create(name="inside")
        await test_db.dispose()  # a no-op for the engine: it belongs to db
    await sqlops.Repository(Team, db).create(name="outside")
    assert [t.name for t in await sqlops.Repository(Team, db).list()] == ["outside"]
