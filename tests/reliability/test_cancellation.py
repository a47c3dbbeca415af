"""Cancelled tasks leave no transaction open and no connection checked out.

A request handler is cancelled when its client disconnects or a timeout fires — in the
middle of a statement, of a COMMIT, of a standalone read. Afterwards the server must
show no session "idle in transaction" (it would hold locks and block VACUUM), the pool
must have every connection back, and the next operation must work.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.orm import DeclarativeBase, column_property

import sqlops
from tests.models import Team
from tests.reliability._figures import record

SLEEP = {"postgresql": "pg_sleep(1)", "mysql": "SLEEP(1)"}


class SessionBase(DeclarativeBase):
    pass


class TeamViaSession(SessionBase):
    """The teams table with a SQL expression column: reads take the ORM session path."""

    __table__ = Team.__table__
    shout = column_property(Team.__table__.c.name + "!")


@contextlib.asynccontextmanager
async def _teams_locked(db: sqlops.Database, backend: str) -> AsyncIterator[None]:
    """Hold a lock that makes every read of ``teams`` wait, on another connection."""
    async with db.engine.connect() as conn:
        if backend == "postgresql":
            await conn.exec_driver_sql("BEGIN")
            await conn.exec_driver_sql("LOCK TABLE teams IN ACCESS EXCLUSIVE MODE")
        else:
            await conn.exec_driver_sql("LOCK TABLES teams WRITE")
        try:
            yield
        finally:
            unlock = "ROLLBACK" if backend == "postgresql" else "UNLOCK TABLES"
            await conn.exec_driver_sql(unlock)


async def _open_transactions(db: sqlops.Database, backend: str) -> int:
    """Sessions of this test's database that sit inside a transaction, doing nothing."""
    if backend != "postgresql":
        return 0  # MariaDB has no such state to look at; the pool checks below still run
    async with db.engine.connect() as conn:
        found = await conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND starts_with(state, 'idle in transaction') AND pid <> pg_backend_pid()"
        )
        return int(found.scalar_one())


async def _cancel_after(work: Awaitable[object], started: asyncio.Event, delay: float) -> None:
    """Run ``work``, cancel it ``delay`` seconds after ``started`` is set; expect the cancel."""
    task = asyncio.ensure_future(work)
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.sleep(delay)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _assert_clean(db: sqlops.Database, backend: str) -> None:
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert await _open_transactions(db, backend) == 0
    await sqlops.Repository(Team, db).create(name="the pool still works")
    assert await sqlops.Repository(Team, db).count(name="the pool still works") >= 1


async def test_cancelled_during_a_slow_statement(db: sqlops.Database, backend: str) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite has no server-side sleep to be cancelled in")
    started = asyncio.Event()

    async def work() -> None:
        async with db.transaction() as s:
            s.add(Team(name="never"))
            await s.flush()
            started.set()
            await s.execute(text(f"SELECT {SLEEP[backend]}"))

    await _cancel_after(work(), started, 0.2)
    assert await sqlops.Repository(Team, db).count(name="never") == 0
    await _assert_clean(db, backend)


async def test_cancelled_while_the_block_awaits_something_else(
    db: sqlops.Database, backend: str
) -> None:
    started = asyncio.Event()

    async def work() -> None:
        async with db.transaction() as s:
            s.add(Team(name="never"))
            await s.flush()
            started.set()
            await asyncio.sleep(5)  # e.g. an HTTP call made inside the transaction

    await _cancel_after(work(), started, 0.1)
    assert await sqlops.Repository(Team, db).count(name="never") == 0
    await _assert_clean(db, backend)


async def test_cancelled_again_and_again_while_cleaning_up(
    db: sqlops.Database, backend: str
) -> None:
    """An impatient caller cancels the task repeatedly: the rollback still finishes."""
    if backend == "sqlite":
        pytest.skip("SQLite has no server-side sleep to be cancelled in")
    started = asyncio.Event()

    async def work() -> None:
        async with db.transaction() as s:
            s.add(Team(name="never"))
            await s.flush()
            started.set()
            await s.execute(text(f"SELECT {SLEEP[backend]}"))

    task = asyncio.create_task(work())
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.sleep(0.1)
    for _ in range(20):
        task.cancel()
        await asyncio.sleep(0)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await sqlops.Repository(Team, db).count(name="never") == 0
    await _assert_clean(db, backend)


async def test_cancelled_during_commit(db: sqlops.Database, backend: str) -> None:
    """A COMMIT made slow by a deferred trigger, cancelled half way: all or nothing."""
    if backend != "postgresql":
        pytest.skip("a slow COMMIT needs a deferred constraint trigger (PostgreSQL)")
    async with db.transaction() as s:
        await s.execute(
            text(
                "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$"
            )
        )
        await s.execute(
            text(
                "CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON teams "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()"
            )
        )
    committing = asyncio.Event()

    async def work() -> None:
        async with db.transaction() as s:
            s.add(Team(name="in doubt"))
            await s.flush()
            committing.set()  # the block ends: COMMIT runs the 1 s trigger

    try:
        await _cancel_after(work(), committing, 0.3)
        landed = await sqlops.Repository(Team, db).count(name="in doubt")
        assert landed in (0, 1)
        record("a COMMIT cancelled half way (PostgreSQL)", "committed" if landed else "rolled back")
        assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        assert await _open_transactions(db, backend) == 0
    finally:
        async with db.transaction() as s:
            await s.execute(text("DROP TRIGGER slow_commit ON teams"))
            await s.execute(text("DROP FUNCTION slow_commit()"))
    await _assert_clean(db, backend)


READS: dict[str, Callable[[sqlops.Database], Awaitable[object]]] = {
    "get (driver path)": lambda db: sqlops.Repository(Team, db).get(1),
    "list (core path)": lambda db: sqlops.Repository(Team, db).list(),
    "count (core path)": lambda db: sqlops.Repository(Team, db).count(),
    "list (ORM session path)": lambda db: sqlops.Repository(TeamViaSession, db).list(),
    "transaction(readonly=True)": lambda db: _readonly(db),
}


async def _readonly(db: sqlops.Database) -> object:
    async with db.transaction(readonly=True) as s:
        return (await s.execute(text("SELECT name FROM teams"))).all()


@pytest.mark.parametrize("read", list(READS))
async def test_cancelled_standalone_read(db: sqlops.Database, backend: str, read: str) -> None:
    """A read stuck behind a lock, cancelled: its connection is discarded or returned clean."""
    if backend == "sqlite":
        pytest.skip("SQLite readers do not wait for writers (WAL)")
    started = asyncio.Event()
    started.set()
    async with _teams_locked(db, backend):
        await _cancel_after(READS[read](db), started, 0.2)
        assert db.engine.pool.checkedout() == 1  # type: ignore[attr-defined]  # the locker's
    await _assert_clean(db, backend)
    await READS[read](db)  # the same path works again
