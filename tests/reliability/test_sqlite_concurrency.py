"""The embedded default under concurrent writers: no write is lost, readers keep reading.

SQLite allows one writer at a time. sqlops opens write transactions with ``BEGIN
IMMEDIATE`` (the write lock is taken up front, so two readers-turned-writers cannot
deadlock), waits up to the busy timeout for it, and ``db.run()`` retries "database is
locked". 20 writers doing read-modify-write increments on one counter, with readers
alongside, must end with every increment counted.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

import sqlops
from sqlops import TransactionConflictError, _dialects, sync
from tests.models import Base, Counter, Team
from tests.reliability._figures import record

pytestmark = pytest.mark.sqlite

WRITERS = 20
ROUNDS = 5
RETRIES = 100


@pytest.mark.parametrize("busy_ms", [_dialects.SQLITE_BUSY_TIMEOUT_MS, 10])
async def test_twenty_writers_lose_no_increment_and_readers_never_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, busy_ms: int
) -> None:
    """With the default busy timeout writers queue; with a tiny one run() retries them."""
    monkeypatch.setattr(_dialects, "SQLITE_BUSY_TIMEOUT_MS", busy_ms)
    async with sqlops.Database(f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}") as db:
        await db.create_all(Base.metadata)
        await sqlops.Repository(Counter, db).create(key="hits", hits=0)

        async def bump(s: AsyncSession, writer: int, number: int) -> None:
            counter = await s.get(Counter, "hits")  # read ...
            assert counter is not None
            await asyncio.sleep(0)  # ... let everyone else run ...
            counter.hits += 1  # ... then write: a lost update if writers overlapped
            s.add(Team(name=f"writer {writer} round {number}"))

        async def writer(number: int) -> None:
            for round_ in range(ROUNDS):
                await db.run(bump, number, round_, retries=RETRIES)

        seen: list[list[int]] = [[] for _ in range(4)]
        stop = asyncio.Event()

        async def reader(values: list[int]) -> None:
            counters = sqlops.Repository(Counter, db)
            while not stop.is_set():
                counter = await counters.get_one("hits")
                values.append(counter.hits)
                await sqlops.Repository(Team, db).count()

        readers = [asyncio.create_task(reader(values)) for values in seen]
        before = db.stats
        await asyncio.gather(*(writer(n) for n in range(WRITERS)))
        stop.set()
        await asyncio.gather(*readers)

        total = WRITERS * ROUNDS
        assert (await sqlops.Repository(Counter, db).get_one("hits")).hits == total
        assert await sqlops.Repository(Team, db).count() == total
        for values in seen:  # each reader sees a counter that only grows
            assert values and values == sorted(values)
        stats = db.stats - before
        assert stats.runs == total and stats.gave_up == 0
        record(
            f"SQLite, busy timeout {busy_ms} ms: {WRITERS} writers x {ROUNDS} "
            "read-modify-write increments + 4 readers",
            f"{total} of {total} counted; {stats.conflicts} 'database is locked' retried; "
            f"{sum(map(len, seen))} reads alongside",
        )


SLOW_CTE = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30000000) "
    "SELECT count(*) FROM n"
)


def _write_lock_free(path: Path) -> bool:
    """Whether a writer outside sqlops (another process, say) can take the write lock now."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


async def test_a_write_cancelled_during_a_slow_statement_releases_the_write_lock(
    tmp_path: Path,
) -> None:
    """The statement is interrupted at once and the transaction rolled back, not left to GC.

    aiosqlite goes on running a cancelled call on its thread, and a connection closed
    while a cursor holds a statement stays open as a zombie, write lock included:
    every writer, in any process, got "database is locked" until a garbage collection.
    """
    path = tmp_path / "locked.db"
    async with sqlops.Database(f"sqlite+aiosqlite:///{path}") as db:
        await db.create_all(Base.metadata)
        started = asyncio.Event()

        async def work() -> None:
            async with db.transaction() as s:
                s.add(Team(name="never"))
                await s.flush()
                started.set()
                await s.execute(text(SLOW_CTE))  # a second or more of CPU in the thread

        task = asyncio.create_task(work())
        await asyncio.wait_for(started.wait(), 10)
        await asyncio.sleep(0.2)
        loop = asyncio.get_running_loop()
        cancelled_at = loop.time()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        took = loop.time() - cancelled_at
        assert took < 3, f"the cancellation waited {took:.1f} s for the statement to finish"
        assert _write_lock_free(path), "the cancelled transaction still holds the write lock"
        record("a cancelled slow statement (SQLite): cancel to lock free", f"{took * 1000:.0f} ms")
        assert await sqlops.Repository(Team, db).count(name="never") == 0
        await sqlops.Repository(Team, db).create(name="after")  # the pool still writes


@pytest.mark.parametrize("api", ["async", "sync"])
async def test_a_begin_that_finds_the_write_lock_taken_is_a_conflict_and_the_pool_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    """BEGIN IMMEDIATE goes to the driver's cursor, not through SQLAlchemy's statement path:
    its failure must still be translated, end no transaction that never began, and leave
    the pooled connection fit for the next one, read-only transactions not blocked."""
    monkeypatch.setattr(_dialects, "SQLITE_BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    db: Any = sqlops.Database(f"sqlite+aiosqlite:///{path}") if api == "async" else None
    sync_db = sync.Database(f"sqlite:///{path}") if api == "sync" else None
    try:
        if sync_db is not None:
            sync_db.create_all(Base.metadata)
        else:
            await db.create_all(Base.metadata)
        holder.execute("BEGIN IMMEDIATE")  # another process's writer
        for _ in range(2):  # the same pooled connection fails twice the same way
            with pytest.raises(TransactionConflictError):
                if sync_db is not None:
                    with sync_db.transaction() as session:
                        session.add(Team(name="blocked"))
                else:
                    async with db.transaction() as s:
                        s.add(Team(name="blocked"))
        if sync_db is not None:  # a deferred BEGIN: readers go on beside the writer
            assert sync.Repository(Team, sync_db).count() == 0
            with sync_db.transaction(readonly=True) as session:
                assert session.scalars(select(Team)).all() == []
        else:
            assert await sqlops.Repository(Team, db).count() == 0
            async with db.transaction(readonly=True) as s:
                assert (await s.scalars(select(Team))).all() == []
        holder.execute("ROLLBACK")
        if sync_db is not None:
            sync.Repository(Team, sync_db).create(name="after")
            assert sync.Repository(Team, sync_db).count(name="after") == 1
        else:
            await sqlops.Repository(Team, db).create(name="after")
            assert await sqlops.Repository(Team, db).count(name="after") == 1
        assert _write_lock_free(path)
    finally:
        holder.close()
        if sync_db is not None:
            sync_db.dispose()
        else:
            await db.dispose()


async def test_a_transaction_cancelled_while_its_begin_waits_for_the_lock_holds_nothing(
    tmp_path: Path,
) -> None:
    """Cancelled while BEGIN IMMEDIATE waits out the busy timeout on aiosqlite's thread.

    The call goes on waiting there after the cancellation; once the other writer lets go,
    that BEGIN takes the lock for a connection nobody will use again. The invalidation
    must roll it back, or every later writer would get "database is locked".
    """
    path = tmp_path / "waiting.db"
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        async with sqlops.Database(f"sqlite+aiosqlite:///{path}") as db:
            await db.create_all(Base.metadata)
            holder.execute("BEGIN IMMEDIATE")
            began = asyncio.Event()

            async def write() -> None:
                async with db.transaction() as s:
                    await s.connection()  # BEGIN IMMEDIATE: waits for the holder's lock
                    began.set()
                    s.add(Team(name="late"))

            task = asyncio.create_task(write())
            await asyncio.sleep(0.3)
            assert not began.is_set()
            task.cancel()
            await asyncio.sleep(0.1)
            holder.execute("ROLLBACK")  # now the orphaned BEGIN gets the lock
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
            assert not began.is_set()
            for _ in range(100):  # its rollback runs just behind it on the worker
                if _write_lock_free(path):
                    break
                await asyncio.sleep(0.05)
            assert _write_lock_free(path), "the cancelled BEGIN kept the write lock"
            await sqlops.Repository(Team, db).create(name="after")
            assert await sqlops.Repository(Team, db).count() == 1
    finally:
        holder.close()
