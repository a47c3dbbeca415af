"""The pool's fast lane (sqlops._lane): template reads skip SQLAlchemy's checkout only when
nothing could tell the difference, and hand back or discard what they took as the pool would."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import event

import sqlops
from sqlops import _engines, _internals, _lane
from tests.models import User

# The drivers whose template reads take the lane (psycopg and aiomysql ping at checkout).
LANE_DRIVERS = ("asyncpg", "asyncmy", "aiosqlite")


def lane_takes(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every record the lane took off a pool's queue (None: it found none to take)."""
    taken: list[Any] = []
    real = _internals.take_idle

    def spy(pool: Any) -> Any:
        record = real(pool)
        taken.append(record)
        return record

    monkeypatch.setattr(_internals, "take_idle", spy)
    return taken


def _on_lane(db: sqlops.Database) -> bool:
    return db.engine.dialect.driver in LANE_DRIVERS


async def _reads(users: sqlops.Repository[User]) -> list[Any]:
    """One of each template read, as comparable values."""
    got = await users.get(1)
    page = await users.page(page=1, per_page=2, order_by="id")
    return [
        (got.id, got.email) if got is not None else None,
        await users.get(10_000),
        [u.email for u in await users.list(order_by="-id", limit=3)],
        ([u.id for u in page.items], page.total),
        await users.count(name="n1"),
        await users.exists(email="2@x"),
    ]


@contextlib.asynccontextmanager
async def _own_database(url: Any, **options: Any) -> AsyncIterator[sqlops.Database]:
    """A Database of its own (pool settings under test) with the users table."""
    db = sqlops.Database(url, **options)
    try:
        await db.create_all(User.metadata)
        yield db
    finally:
        await db.drop_all(User.metadata)
        await db.dispose()


async def _warm_lane(db: sqlops.Database) -> sqlops.Repository[User]:
    """One user, and an idle connection in the pool to take (skips where there is no lane)."""
    if not _on_lane(db):
        pytest.skip("this driver does not take the lane")
    users = await _seed(db, 1)
    await users.get(1)
    return users


async def _seed(db: sqlops.Database, n: int = 4) -> sqlops.Repository[User]:
    users = sqlops.Repository(User, db)
    await users.create_many([{"email": f"{i}@x", "name": f"n{i}"} for i in range(1, n + 1)])
    return users


async def test_standalone_reads_take_an_idle_connection_and_give_it_back(
    db: sqlops.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = await _seed(db)
    await users.get(1)  # a connection is idle in the pool now
    taken = lane_takes(monkeypatch)
    await _reads(users)
    pool = db.engine.sync_engine.pool
    if _on_lane(db):
        assert taken and all(record is not None for record in taken)
        assert pool.checkedout() == 0  # every one went back
    else:
        assert not taken  # psycopg, aiomysql: the checkout's ping is needed


async def test_an_application_pool_listener_turns_the_lane_off(
    db: sqlops.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = await _seed(db)
    plain = await _reads(users)
    seen: list[str] = []

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        seen.append("checkout")

    def checkin(dbapi_connection: Any, record: Any) -> None:
        seen.append("checkin")

    engine = db.engine.sync_engine
    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    taken = lane_takes(monkeypatch)
    try:
        assert await _reads(users) == plain  # the same answers through the checkout
        assert seen.count("checkout") >= 6 and seen.count("checkin") == seen.count("checkout")
        assert not taken
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)
    seen.clear()
    assert await _reads(users) == plain
    assert not seen and bool(taken) == _on_lane(db)  # back on the lane once they are gone


async def test_pool_debug_logging_turns_the_lane_off(
    db: sqlops.Database, caplog: pytest.LogCaptureFixture
) -> None:
    users = await _seed(db)
    await users.get(1)
    with caplog.at_level(logging.DEBUG, logger="sqlalchemy.pool"):  # SQLAlchemy's own switch
        await users.get(1)
    checkouts = [r for r in caplog.records if "checked out from pool" in r.getMessage()]
    assert checkouts and checkouts[0].name.startswith("sqlalchemy.pool.impl.")


async def test_a_connection_due_for_recycling_is_replaced(
    url: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _own_database(url, pool_recycle=1) as db:
        users = await _seed(db, 1)
        await users.get(1)
        taken = lane_takes(monkeypatch)
        await users.get(1)
        first = [r.dbapi_connection for r in taken if r is not None]
        await asyncio.sleep(1.2)
        taken.clear()
        assert (await users.get(1)) is not None
        assert all(r is None for r in taken)  # due: left to SQLAlchemy's checkout
        if first:
            await users.get(1)
            again = [r.dbapi_connection for r in taken if r is not None]
            assert again and again[0] is not first[0]  # the recycled one was replaced


async def test_a_read_that_left_a_transaction_open_is_discarded_not_handed_on(
    db: sqlops.Database,
) -> None:
    users = await _warm_lane(db)
    taken = _lane.take(db.engine.sync_engine)
    assert taken is not None
    record = taken[2]
    driver = record.driver_connection
    await _begin(db, driver)
    _lane.give_back(taken)
    assert record.dbapi_connection is None  # closed, not returned with its transaction
    got = await users.get(1)
    assert got is not None and got.email == "1@x"
    again = _lane.take(db.engine.sync_engine)
    assert again is not None and _lane_clean(db)(again[2].driver_connection)
    _lane.give_back(again)


async def test_a_read_waits_for_a_connection_when_the_pool_is_exhausted(url: Any) -> None:
    async with _own_database(url, pool_size=1, max_overflow=0, pool_timeout=10) as db:
        users = await _seed(db, 1)
        async with db.transaction() as session:
            await sqlops.Repository(User, session).get(1)  # the only connection is the session's
            read = asyncio.ensure_future(users.get(1))
            await asyncio.sleep(0.2)
            assert not read.done()  # nothing to take off the queue: it waits
        got = await asyncio.wait_for(read, 10)
        assert got is not None and got.email == "1@x"
        assert db.engine.sync_engine.pool.checkedout() == 0


async def test_a_cancelled_read_on_the_lane_discards_its_connection(
    db: sqlops.Database,
) -> None:
    users = await _warm_lane(db)
    pool = db.engine.sync_engine.pool
    before = {id(r) for r in _queued(pool)}
    read = asyncio.ensure_future(users.get(1))
    for _ in range(100):  # until the read took its connection and waits on the server
        await asyncio.sleep(0)
        if pool.checkedout():
            break
    assert pool.checkedout() == 1 and not read.done()
    read.cancel()
    with pytest.raises(asyncio.CancelledError):
        await read
    assert pool.checkedout() == 0
    closed = [r for r in _queued(pool) if id(r) in before and r.dbapi_connection is None]
    assert closed, "the cancelled read's connection went back open"
    got = await users.get(1)
    assert got is not None and got.email == "1@x"


def _queued(pool: Any) -> list[Any]:
    return list(pool._pool._queue._queue)


def _lane_clean(db: sqlops.Database) -> Callable[[Any], bool]:
    from sqlops import _dialects

    clean = _dialects.lane_clean(db.engine.dialect.driver)
    assert clean is not None
    return clean


async def _begin(db: sqlops.Database, driver: Any) -> None:
    """Open a transaction on a driver connection, behind sqlops' back."""
    name = db.engine.dialect.driver
    if name in ("asyncpg", "aiosqlite"):
        await driver.execute("BEGIN")
    else:  # asyncmy
        await driver.begin()


async def test_an_overflow_connection_given_back_on_the_lane_is_closed_not_leaked(
    url: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with _own_database(url, pool_size=1, max_overflow=4) as db:
        users = await _seed(db, 1)
        await users.get(1)
        if not _on_lane(db):
            pytest.skip("this driver does not take the lane")
        taken = _lane.take(db.engine.sync_engine)  # a read on the lane holds the only one
        assert taken is not None
        async with db.engine.connect() as conn:  # meanwhile an overflow connection is opened
            await conn.exec_driver_sql("SELECT 1")
        pool = db.engine.sync_engine.pool
        assert pool.checkedin() == 1  # ... and given back: the queue is full
        record = taken[2]
        await _engines._give_back(taken)  # the lane read ends: its connection is surplus
        assert record.dbapi_connection is None  # closed by the pool's return
        assert pool.checkedout() == 0 and pool.checkedin() == 1
        gc.collect()  # an unclosed driver connection would warn here (an error in pytest)
        assert not [r for r in caplog.records if "Exception closing" in r.getMessage()]
        assert (await users.get(1)) is not None
