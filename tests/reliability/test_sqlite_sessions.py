"""SQLite: a ``db.session()`` that only reads blocks no writer (see sqlops._sqlite_begin).

A FastAPI GET handler holds its ``db.session()`` for the whole request. Taking SQLite's
write lock at its first read made every POST wait for it. The lock is now taken at the
session's first write (a flush, a fast ``update()``, a SAVEPOINT, a ``text()`` UPDATE);
``db.transaction()`` still takes it at once, so a read-then-write there loses no update.
The same for the sync twin, whose ``session()`` is this one driven without a loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

import sqlops
from sqlops import sync
from tests.models import Base, User

pytestmark = pytest.mark.sqlite

HELD = 0.6  # how long the "request" keeps its session open


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[sqlops.Database]:
    async with sqlops.Database(f"sqlite+aiosqlite:///{tmp_path / 's.db'}") as database:
        await database.create_all(Base.metadata)
        await sqlops.Repository(User, database).create(email="a@x", name="a")
        yield database


async def _write_time(db: sqlops.Database, email: str) -> float:
    start = time.perf_counter()
    await sqlops.Repository(User, db).create(email=email, name="w")
    return time.perf_counter() - start


async def test_a_reading_session_blocks_no_writer(db: sqlops.Database) -> None:
    async def request() -> None:
        async with db.session() as s:
            users = sqlops.Repository(User, s)
            assert (await users.get(1)) is not None  # the fast route
            assert len(await users.list()) == 1
            assert (await s.execute(text("SELECT count(*) FROM users"))).scalar() >= 1
            await asyncio.sleep(HELD)
            assert await users.count() == 2  # each read sees the latest commit

    async def writer() -> float:
        await asyncio.sleep(0.1)
        return await _write_time(db, "w@x")

    _, waited = await asyncio.gather(request(), writer())
    assert waited < HELD / 2, f"the writer waited {waited:.2f} s for a reading session"


@pytest.mark.parametrize("first_write", ["flush", "fast update", "savepoint", "text"])
async def test_a_session_takes_the_lock_at_its_first_write(
    db: sqlops.Database, first_write: str
) -> None:
    """From its first write on, the session holds the lock until it commits."""
    order: list[str] = []

    async def request() -> None:
        async with db.session() as s:
            users = sqlops.Repository(User, s)
            user = await users.get_one(1)
            if first_write == "flush":
                s.add(User(email="s@x", name="s"))
                await s.flush()
            elif first_write == "fast update":
                await users.update(user.id, name="renamed")
            elif first_write == "savepoint":
                async with db.savepoint(s):
                    await users.create(email="s@x", name="s")
            else:
                await s.execute(text("UPDATE users SET name = 'renamed' WHERE id = 1"))
            order.append("wrote")
            await asyncio.sleep(HELD)
            order.append("committing")
            await s.commit()

    async def writer() -> None:
        await asyncio.sleep(0.2)
        await _write_time(db, "w@x")
        order.append("other writer done")

    await asyncio.gather(request(), writer())
    assert order == ["wrote", "committing", "other writer done"]
    assert await sqlops.Repository(User, db).count() == (
        3 if first_write in ("flush", "savepoint") else 2
    )


async def test_a_session_that_only_read_commits_and_rolls_back_cleanly(db: sqlops.Database) -> None:
    for end in ("commit", "rollback", "close"):
        async with db.session() as s:
            assert await sqlops.Repository(User, s).count() == 1
            if end != "close":
                await getattr(s, end)()
            # the same session may write afterwards, in a transaction of its own
            await sqlops.Repository(User, s).create(email=f"{end}@x", name=end)
            await s.rollback()
    assert await _write_time(db, "after@x") < HELD / 2  # no lock was left behind
    assert await sqlops.Repository(User, db).count() == 2


async def test_a_transaction_still_takes_the_lock_at_once(db: sqlops.Database) -> None:
    """``db.transaction()``: its reads and writes are one serialized unit, as before."""
    order: list[str] = []

    async def unit() -> None:
        async with db.transaction() as s:
            assert await sqlops.Repository(User, s).count() == 1
            await asyncio.sleep(HELD)
            order.append("transaction done")

    async def writer() -> None:
        await asyncio.sleep(0.1)
        await _write_time(db, "w@x")
        order.append("writer done")

    await asyncio.gather(unit(), writer())
    assert order == ["transaction done", "writer done"]


def test_the_sync_twin_session_blocks_no_writer(tmp_path: Path) -> None:
    with sync.Database(f"sqlite:///{tmp_path / 'sync.db'}") as db:
        db.create_all(Base.metadata)
        sync.Repository(User, db).create(email="a@x", name="a")
        read = threading.Event()
        waited: list[float] = []

        def writer() -> None:
            read.wait()
            start = time.perf_counter()
            sync.Repository(User, db).create(email="w@x", name="w")
            waited.append(time.perf_counter() - start)

        thread = threading.Thread(target=writer)
        thread.start()
        with db.session() as s:
            assert sync.Repository(User, s).get(1) is not None
            read.set()
            time.sleep(HELD)
            assert sync.Repository(User, s).count() == 2
        thread.join()
        assert waited and waited[0] < HELD / 2, f"the writer waited {waited}"
