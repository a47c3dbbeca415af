"""The leak report: sessions never closed are listed, with where they were opened, on dispose."""

from __future__ import annotations

import contextlib
import gc

import pytest
from sqlalchemy import select
from sqlalchemy.pool import NullPool

import sqlops
from sqlops._guards import GuardedAsyncSession, SessionLeakWarning, SessionTracker
from tests.guards.conftest import MakeDb, add_users_with_posts
from tests.models import User

# NullPool: a connection handed back after dispose() is closed, not kept by a dead pool.
NO_POOL = {"poolclass": NullPool}


async def test_unclosed_session_is_reported_with_where_it_was_opened(make_db: MakeDb) -> None:
    db = await make_db(leaked_sessions="warn", engine_options=NO_POOL)
    opener = db.session()
    session = await opener.__aenter__()  # leaked-here
    await session.execute(select(User))
    with pytest.warns(SessionLeakWarning) as warned:
        await db.dispose()
    message = str(warned[0].message)
    assert message.startswith("1 session(s) of Database(")
    assert "were never closed" in message and "async with db.session()" in message
    assert "test_leaks.py" in message and "# leaked-here" in message
    assert "in test_unclosed_session_is_reported_with_where_it_was_opened" in message
    await opener.__aexit__(None, None, None)


async def test_abandoned_stream_is_reported(make_db: MakeDb) -> None:
    db = await make_db(leaked_sessions="warn", engine_options=NO_POOL)
    await add_users_with_posts(db, 3)
    rows = sqlops.Repository(User, db).stream(batch_size=1)
    assert (await anext(rows)).name == "u0"  # stopped early, never closed
    with pytest.warns(SessionLeakWarning, match=r"1 session\(s\)") as warned:
        await db.dispose()
    assert "aclosing()" in str(warned[0].message)
    await rows.aclose()


async def test_closed_sessions_are_not_reported(make_db: MakeDb) -> None:
    db = await make_db(leaked_sessions="warn", engine_options=NO_POOL)
    async with db.session() as session:
        await session.execute(select(User))
    async with db.transaction() as session:
        session.add(User(email="a@example.com", name="a"))
    async with contextlib.aclosing(sqlops.Repository(User, db).stream()) as rows:
        assert [user.name async for user in rows] == ["a"]
    await db.dispose()  # warnings are errors here: any report would fail the test


async def test_dropped_session_is_still_reported(make_db: MakeDb) -> None:
    db = await make_db(leaked_sessions="warn", engine_options=NO_POOL)
    opener = db.session()
    await opener.__aenter__()  # never used, never closed, then dropped
    del opener
    gc.collect()
    with pytest.warns(SessionLeakWarning, match=r"1 session\(s\)"):
        await db.dispose()


def test_garbage_collected_session_is_remembered() -> None:
    tracker = SessionTracker()
    session = GuardedAsyncSession(sqlops_tracker=tracker)  # opened-here
    closed = GuardedAsyncSession(sqlops_tracker=tracker)
    tracker.closed(closed)
    del session
    gc.collect()
    (stack,) = tracker.leaks()
    assert stack[-1].name == "test_garbage_collected_session_is_remembered"
    assert stack[-1].line is not None and stack[-1].line.endswith("# opened-here")


async def test_off_by_default(make_db: MakeDb) -> None:
    db = await make_db(engine_options=NO_POOL)
    opener = db.session()
    await opener.__aenter__()
    await db.dispose()  # no report
    await opener.__aexit__(None, None, None)
