"""Pool exhaustion: a clear error that names the knobs, and a pool that recovers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

import sqlops
from tests.models import Base, Team


@pytest.fixture
async def small(url: URL | str) -> AsyncIterator[sqlops.Database]:
    """A Database with 2 pooled connections, 1 overflow, and a 0.3 s pool timeout."""
    db = sqlops.Database(url, pool_size=2, max_overflow=1, pool_timeout=0.3)
    try:
        await db.drop_all(Base.metadata)
        await db.create_all(Base.metadata)
        yield db
        await db.drop_all(Base.metadata)
    finally:
        await db.dispose()


@contextlib.asynccontextmanager
async def _holding(db: sqlops.Database, count: int) -> AsyncIterator[None]:
    """Keep ``count`` transactions open (each holding a connection) until the block ends."""
    release, all_in = asyncio.Event(), asyncio.Event()
    ready = 0

    async def hold() -> None:
        nonlocal ready
        async with db.transaction(readonly=True) as s:
            await s.execute(text("SELECT 1"))
            ready += 1
            if ready == count:
                all_in.set()
            await release.wait()

    tasks = [asyncio.create_task(hold()) for _ in range(count)]
    await asyncio.wait_for(all_in.wait(), 10)
    try:
        yield
    finally:
        release.set()
        await asyncio.gather(*tasks)


async def test_an_exhausted_pool_names_its_settings_and_recovers(small: sqlops.Database) -> None:
    teams = sqlops.Repository(Team, small)
    async with _holding(small, 3):  # pool_size + max_overflow: everything is out
        started = time.monotonic()
        with pytest.raises(sqlops.PoolTimeoutError) as info:
            await teams.create(name="no room")
        waited = time.monotonic() - started
        for read in (teams.get(1), teams.list(), teams.count()):
            with pytest.raises(sqlops.PoolTimeoutError):
                await read  # standalone reads are not retried on a timeout
    assert isinstance(info.value, sqlops.DatabaseUnavailableError)
    message = str(info.value)
    for knob in ("pool_size=2", "max_overflow=1", "pool_timeout=0.3"):
        assert knob in message
    assert 0.25 <= waited < 2
    assert small.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    await teams.create(name="room again")
    assert await teams.count() == 1


async def test_a_cancelled_waiter_takes_no_connection_with_it(small: sqlops.Database) -> None:
    async with _holding(small, 3):
        waiter = asyncio.create_task(sqlops.Repository(Team, small).create(name="impatient"))
        await asyncio.sleep(0.1)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert small.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    await sqlops.Repository(Team, small).create(name="fine")


async def test_a_burst_larger_than_the_pool_queues_and_completes(
    small: sqlops.Database,
) -> None:
    """30 writers on 3 connections: each waits its turn (well within the timeout)."""
    slow = sqlops.Database(small.url, pool_size=2, max_overflow=1, pool_timeout=10)
    try:
        teams = sqlops.Repository(Team, slow)
        await asyncio.gather(*(teams.create(name=f"burst {n}") for n in range(30)))
        assert await teams.count() == 30
        assert slow.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await slow.dispose()
