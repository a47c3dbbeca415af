"""The embedded default under concurrent writers: no write is lost, readers keep reading.

SQLite allows one writer at a time. sqlops opens write transactions with ``BEGIN
IMMEDIATE`` (the write lock is taken up front, so two readers-turned-writers cannot
deadlock), waits up to the busy timeout for it, and ``db.run()`` retries "database is
locked". 20 writers doing read-modify-write increments on one counter, with readers
alongside, must end with every increment counted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

import sqlops
from sqlops import _dialects
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
