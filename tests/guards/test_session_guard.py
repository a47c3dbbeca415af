"""One task, one session: concurrent use of an AsyncSession is refused, naming both tasks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import sqlops
from sqlops._guards import GuardedAsyncSession
from tests.guards.conftest import MakeDb, add_users_with_posts
from tests.models import Team, User


async def list_users(session: AsyncSession) -> list[User]:
    return list((await session.scalars(select(User))).all())


async def list_teams(session: AsyncSession) -> list[Team]:
    return list((await session.scalars(select(Team))).all())


async def test_two_tasks_at_once_raise_naming_both_coroutines(db: sqlops.Database) -> None:
    await add_users_with_posts(db, 2)
    async with db.session() as session:
        users, teams = await asyncio.gather(
            list_users(session), list_teams(session), return_exceptions=True
        )
        assert isinstance(users, list) and len(users) == 2  # the first task was not disturbed
        assert isinstance(teams, sqlops.SessionMisuseError)
        message = str(teams)
        assert "one AsyncSession used by two tasks at once" in message
        assert "coroutine list_teams() at tests/guards/test_session_guard.py:" in message
        assert "coroutine list_users() at tests/guards/test_session_guard.py:" in message
        assert "called session.scalars() while task" in message
        assert "give each task its own session" in message
        assert await list_teams(session) == []  # and the session still works


async def test_adding_during_another_tasks_flush_is_refused(db: sqlops.Database) -> None:
    async with db.session() as session:

        async def add_and_flush(name: str) -> None:
            session.add(Team(name=name))
            await session.flush()

        results = await asyncio.gather(
            add_and_flush("red"), add_and_flush("blue"), return_exceptions=True
        )
        assert results[0] is None
        assert isinstance(results[1], sqlops.SessionMisuseError)
        assert "called session.add() while task" in str(results[1])
        assert "is still inside session.flush()" in str(results[1])
        await session.commit()
    assert [team.name for team in await sqlops.Repository(Team, db).list()] == ["red"]


async def test_savepoints_from_two_tasks_are_refused(db: sqlops.Database) -> None:
    async with db.session() as session:

        async def in_savepoint(name: str) -> None:
            async with session.begin_nested():
                session.add(Team(name=name))
                await session.flush()

        await session.execute(select(Team))
        results = await asyncio.gather(
            in_savepoint("red"), in_savepoint("blue"), return_exceptions=True
        )
        refused = [r for r in results if isinstance(r, sqlops.SessionMisuseError)]
        assert len(refused) == 1
        assert "begin_nested" in str(refused[0]) or "flush" in str(refused[0])


async def test_taking_turns_between_tasks_is_allowed(db: sqlops.Database) -> None:
    await add_users_with_posts(db, 1)
    async with db.session() as session:
        assert len(await asyncio.create_task(list_users(session))) == 1
        assert await asyncio.create_task(list_teams(session)) == []
        session.add(Team(name="green"))
        await asyncio.create_task(session.commit())
    assert await sqlops.Repository(Team, db).count() == 1


async def test_nested_calls_in_one_task_are_fine(db: sqlops.Database) -> None:
    async with db.transaction() as session:
        assert isinstance(session, GuardedAsyncSession)
        await session.scalars(select(User))  # scalars() calls execute() inside
        assert await session.run_sync(lambda s: s.query(User).count()) == 0
        async with session.begin_nested():
            session.add(Team(name="x"))
    assert await sqlops.Repository(Team, db).count() == 1


async def test_guard_costs_about_a_microsecond_per_call() -> None:
    """What the guard adds to every session call: bookkeeping and one coroutine frame.

    Timed around a coroutine that does nothing, so that driver and SQLAlchemy noise
    (tens of µs per call on a busy machine) cannot hide it; best of several rounds.
    """
    session = GuardedAsyncSession()  # no bind: nothing here touches a database

    def guarded() -> Awaitable[None]:
        return session._sqlops_guarded("execute", _nothing())

    bare = min([await _per_call(_nothing) for _ in range(7)])
    overhead = min([await _per_call(guarded) for _ in range(7)]) - bare
    # Measured about 1 µs (docs/guards.md); the bound only catches a gross regression.
    assert overhead < 5e-6


async def _nothing() -> None:
    return None


async def _per_call(call: Callable[[], Awaitable[None]], calls: int = 5000) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        await call()
    return (time.perf_counter() - start) / calls


async def test_engine_from_a_second_event_loop_raises_clearly(
    make_db: MakeDb, backend: str
) -> None:
    db = await make_db()
    await db.ping()  # the pool now holds a connection of this loop

    def in_another_loop() -> BaseException | None:
        try:
            asyncio.run(db.ping())
        except BaseException as exc:
            return exc
        return None

    error = await asyncio.to_thread(in_another_loop)
    if backend == "sqlite":  # aiosqlite connections are not tied to a loop
        assert error is None
        return
    assert isinstance(error, sqlops.SessionMisuseError), error
    assert "was used from a second event loop" in str(error)
    assert "still open" in str(error) and "dispose()" in str(error)
    await db.ping()  # the connection went back to the pool untouched


async def test_session_bound_to_another_loops_connection_raises_clearly(
    db: sqlops.Database, backend: str
) -> None:
    async with db.engine.connect() as conn:
        session = GuardedAsyncSession(bind=conn)
        await session.execute(select(Team))  # this loop's connection, in use

        def in_another_loop() -> BaseException | None:
            try:
                asyncio.run(session.execute(select(Team)))
            except BaseException as exc:
                return exc
            return None

        error = await asyncio.to_thread(in_another_loop)
        if backend == "sqlite":  # aiosqlite connections are not tied to a loop
            assert error is None
        else:
            assert isinstance(error, sqlops.SessionMisuseError), error
            assert "bound to a connection opened by another event loop" in str(error)
        assert await session.scalar(select(Team.id)) is None  # still fine in its own loop
        await session.close()
