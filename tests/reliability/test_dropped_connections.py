"""Connections the server drops: killed backends, a restarted server, a cut-off transaction.

PostgreSQL runs on the private cluster (killing backends and restarting the server would
break everyone else's tests on the shared one); MariaDB kills only the connections of
this suite's own throwaway database, found by processlist id.

The kills and restarts are done with blocking calls, so the event loop does not run
between the kill and the next operation: the pool's sockets are dead but asyncpg has not
read their end yet, and ``is_closed()`` at checkout still says they are open. That is
the worst case for the checkout check; an application whose loop is busy meets it too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import NullPool

import sqlops
from tests.models import Base, Team
from tests.reliability._cluster import Cluster
from tests.reliability._figures import describe, record
from tests.reliability.conftest import DATABASE

OURS = f"datname = '{DATABASE}'"

Operation = Callable[[sqlops.Database, str], Awaitable[object]]


async def _standalone_read(db: sqlops.Database, name: str) -> object:
    return await sqlops.Repository(Team, db).list(name=name)


async def _standalone_get(db: sqlops.Database, name: str) -> object:
    return await sqlops.Repository(Team, db).get(1)


async def _standalone_write(db: sqlops.Database, name: str) -> object:
    return await sqlops.Repository(Team, db).create(name=name)


async def _transaction(db: sqlops.Database, name: str) -> object:
    async with db.transaction() as s:
        s.add(Team(name=name))
        await s.flush()
        return (await s.execute(text("SELECT 1"))).scalar_one()


async def _readonly_transaction(db: sqlops.Database, name: str) -> object:
    async with db.transaction(readonly=True) as s:
        return (await s.execute(text("SELECT 1"))).scalar_one()


async def _run(db: sqlops.Database, name: str) -> object:
    async def work(s: AsyncSession) -> None:
        s.add(Team(name=name))

    return await db.run(work)


async def _ping(db: sqlops.Database, name: str) -> object:
    """A health check: it must not flap after the server dropped the pool."""
    await db.ping()
    return None


OPERATIONS: dict[str, Operation] = {
    "ping()": _ping,
    "standalone read": _standalone_read,
    "standalone get": _standalone_get,
    "standalone write": _standalone_write,
    "transaction()": _transaction,
    "transaction(readonly=True)": _readonly_transaction,
    "run()": _run,
}


@pytest.fixture
async def primary(healthy: Cluster) -> AsyncIterator[sqlops.Database]:
    """A Database on the private primary (no replicas), with the test schema."""
    db = sqlops.Database(healthy.primary.url(DATABASE))
    await db.drop_all(Base.metadata)
    await db.create_all(Base.metadata)
    try:
        yield db
    finally:
        await db.dispose()
        async with sqlops.Database(healthy.primary.url(DATABASE)) as admin:
            await admin.drop_all(Base.metadata)


async def _warm_up(db: sqlops.Database) -> None:
    """Run every operation once, so first-use costs (compiling, type lookups) are not timed."""
    for name, operation in OPERATIONS.items():
        await operation(db, f"warm-up: {name}")


async def _fill_pool(db: sqlops.Database, size: int = 5) -> None:
    """Open ``size`` pooled connections, all idle in the pool afterwards."""
    held = asyncio.Event()

    async def hold() -> None:
        async with db.transaction() as s:
            await s.execute(text("SELECT 1"))
            await held.wait()

    tasks = [asyncio.create_task(hold()) for _ in range(size)]
    await asyncio.sleep(0.1)
    held.set()
    await asyncio.gather(*tasks)
    assert db.engine.pool.checkedin() == size  # type: ignore[attr-defined]


@pytest.mark.postgresql
async def test_after_every_backend_is_killed_the_next_operations_succeed(
    primary: sqlops.Database, healthy: Cluster
) -> None:
    await _warm_up(primary)
    recovery: list[float] = []
    for name, operation in OPERATIONS.items():
        await _fill_pool(primary)
        # blocks the loop: the backends are gone, but the loop has not read it yet
        assert healthy.terminate(healthy.primary, OURS) == 5
        started = time.monotonic()
        await operation(primary, f"after kill: {name}")
        recovery.append(time.monotonic() - started)
        await operation(primary, f"after kill, again: {name}")
    record("recovery after pg_terminate_backend of the whole pool", describe(recovery))
    assert await sqlops.Repository(Team, primary).count(name__startswith="after kill") == 6


@pytest.mark.postgresql
async def test_after_a_server_restart_the_next_operations_succeed(
    primary: sqlops.Database, healthy: Cluster
) -> None:
    await _warm_up(primary)
    recovery: list[float] = []
    for name, operation in OPERATIONS.items():
        await _fill_pool(primary)
        healthy.restart(healthy.primary, "fast")  # blocks the loop, like the kill above
        started = time.monotonic()
        await operation(primary, f"after restart: {name}")
        recovery.append(time.monotonic() - started)
    record("recovery after pg_ctl restart -m fast (first operation)", describe(recovery))
    assert await sqlops.Repository(Team, primary).count(name__startswith="after restart") == 3


@pytest.mark.postgresql
async def test_while_the_server_is_down_operations_fail_fast_then_recover(
    primary: sqlops.Database, healthy: Cluster
) -> None:
    await _fill_pool(primary)
    await asyncio.to_thread(healthy.stop, healthy.primary, "fast")
    for name, operation in OPERATIONS.items():
        started = time.monotonic()
        with pytest.raises(sqlops.DatabaseUnavailableError):
            await operation(primary, name)
        assert time.monotonic() - started < 2, f"{name} took long to fail"
    await asyncio.to_thread(healthy.start, healthy.primary)
    started = time.monotonic()
    await _standalone_write(primary, "back")
    record("first operation after the server came back", f"{time.monotonic() - started:.3f} s")
    assert await sqlops.Repository(Team, primary).count(name="back") == 1


@pytest.mark.postgresql
@pytest.mark.parametrize("moment", ["statement", "commit"])
async def test_a_transaction_cut_off_mid_flight_raises_and_commits_nothing(
    primary: sqlops.Database, healthy: Cluster, moment: str
) -> None:
    with pytest.raises(sqlops.DatabaseUnavailableError):
        async with primary.transaction() as s:
            s.add(Team(name="half"))
            await s.flush()
            pid = (await s.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            assert healthy.terminate(healthy.primary, f"pid = {pid}") == 1
            if moment == "statement":
                s.add(Team(name="second half"))
                await s.flush()
            # else: the block ends here and the COMMIT is the first to find out
    assert await sqlops.Repository(Team, primary).count() == 0
    assert primary.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    await _standalone_write(primary, "next one")
    assert await sqlops.Repository(Team, primary).count() == 1


@pytest.mark.postgresql
async def test_run_does_not_retry_a_transaction_cut_off_mid_flight(
    primary: sqlops.Database, healthy: Cluster
) -> None:
    """Its COMMIT may or may not have landed; only the caller can know if repeating is safe."""
    calls = 0

    async def work(s: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        pid = (await s.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        s.add(Team(name="once"))
        await s.flush()
        assert healthy.terminate(healthy.primary, f"pid = {pid}") == 1

    with pytest.raises(sqlops.DatabaseUnavailableError):
        await primary.run(work, retries=3)
    assert calls == 1
    assert await sqlops.Repository(Team, primary).count() == 0


# ----------------------------------------------------------------------------- MariaDB


@pytest.fixture
async def mariadb(url: URL | str) -> AsyncIterator[sqlops.Database]:
    db = sqlops.Database(url)
    try:
        await db.drop_all(Base.metadata)
        await db.create_all(Base.metadata)
        yield db
        await db.drop_all(Base.metadata)
    finally:
        await db.dispose()


async def _kill_pool_mysql(db: sqlops.Database) -> int:
    """KILL every connection to this suite's throwaway database except the killer's."""
    admin = sqlops.Database(db.url, engine_options={"poolclass": NullPool})
    async with admin, admin.engine.connect() as conn:
        ids = (
            (
                await conn.exec_driver_sql(
                    "SELECT id FROM information_schema.processlist "
                    "WHERE db = DATABASE() AND id <> CONNECTION_ID()"
                )
            )
            .scalars()
            .all()
        )
        for pid in ids:
            await conn.exec_driver_sql(f"KILL CONNECTION {int(pid)}")
    return len(ids)


@pytest.mark.parametrize("backend", [pytest.param("mysql", marks=pytest.mark.mysql)])
async def test_mariadb_killed_connections_are_replaced(
    mariadb: sqlops.Database, backend: str
) -> None:
    await _warm_up(mariadb)
    recovery: list[float] = []
    for name, operation in OPERATIONS.items():
        await _fill_pool(mariadb)
        assert await _kill_pool_mysql(mariadb) == 5
        started = time.monotonic()
        await operation(mariadb, f"after kill: {name}")
        recovery.append(time.monotonic() - started)
    record("MariaDB: recovery after KILL of the whole pool", describe(recovery))
    assert await sqlops.Repository(Team, mariadb).count(name__startswith="after kill") == 3


@pytest.mark.parametrize("backend", [pytest.param("mysql", marks=pytest.mark.mysql)])
async def test_mariadb_transaction_cut_off_mid_flight_commits_nothing(
    mariadb: sqlops.Database, backend: str
) -> None:
    with pytest.raises(sqlops.DatabaseUnavailableError):
        async with mariadb.transaction() as s:
            s.add(Team(name="half"))
            await s.flush()
            await _kill_pool_mysql(mariadb)
            s.add(Team(name="second half"))
            await s.flush()
    assert await sqlops.Repository(Team, mariadb).count() == 0
    assert mariadb.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
