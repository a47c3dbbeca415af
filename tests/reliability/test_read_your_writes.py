"""``read_your_writes=``: a read right after a write sees it, even on a lagging replica.

The replicas of the private cluster get ``recovery_min_apply_delay``, so each commit
becomes visible on them a fixed time after the primary acknowledged it: without the
option the read right after a write deterministically misses it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from sqlalchemy import select

import sqlops
import sqlops.sync
from tests.models import Base, Team
from tests.reliability._cluster import Cluster
from tests.reliability._figures import describe, record
from tests.reliability.conftest import DATABASE

pytestmark = pytest.mark.postgresql

APPLY_DELAY_MS = 400
Make = Callable[..., Awaitable[sqlops.Database]]


@pytest.fixture
def delayed(healthy: Cluster) -> Iterator[Cluster]:
    """The cluster with every replica applying commits ``APPLY_DELAY_MS`` late."""
    _set_delay(healthy, f"'{APPLY_DELAY_MS}ms'")
    try:
        yield healthy
    finally:
        _set_delay(healthy, None)


def _set_delay(cluster: Cluster, value: str | None) -> None:
    for replica in cluster.replicas:
        setting = "RESET recovery_min_apply_delay"
        if value is not None:
            setting = f"SET recovery_min_apply_delay = {value}"
        cluster.psql(replica, f"ALTER SYSTEM {setting}")
        cluster.psql(replica, "SELECT pg_reload_conf()")
    for replica in cluster.replicas:  # the reload is asynchronous: wait until it shows
        want = "0" if value is None else value.strip("'")
        while cluster.psql(replica, "SHOW recovery_min_apply_delay") != want:
            time.sleep(0.01)


@pytest.fixture
async def make(healthy: Cluster) -> AsyncIterator[Make]:
    """Build ``Database(primary, replicas=[...], **options)`` on a fresh schema."""
    made: list[sqlops.Database] = []
    urls = [r.url(DATABASE) for r in healthy.replicas]

    async def build(**options: object) -> sqlops.Database:
        db = sqlops.Database(healthy.primary.url(DATABASE), replicas=urls, **options)  # type: ignore[arg-type]
        made.append(db)
        return db

    admin = await build()
    await admin.drop_all(Base.metadata)
    await admin.create_all(Base.metadata)
    await asyncio.to_thread(healthy.wait_replayed)
    try:
        yield build
    finally:
        for db in made:
            await db.dispose()
        async with sqlops.Database(healthy.primary.url(DATABASE)) as cleanup:
            await cleanup.drop_all(Base.metadata)


# Every standalone read route, and a read-only transaction, each asked for one team.
Lookup = Callable[[sqlops.Database, Team], Awaitable[object]]
LOOKUPS: dict[str, Lookup] = {
    "get (driver fast path)": lambda db, t: sqlops.Repository(Team, db).get(t.id),
    "get with load= (ORM session path)": lambda db, t: sqlops.Repository(Team, db).get(
        t.id, load=["members"]
    ),
    "first (core path)": lambda db, t: sqlops.Repository(Team, db).first(name=t.name),
    "list": lambda db, t: _nonempty(sqlops.Repository(Team, db).list(name=t.name)),
    "count": lambda db, t: _nonzero(sqlops.Repository(Team, db).count(name=t.name)),
    "transaction(readonly=True)": lambda db, t: _in_readonly(db, t),
}


async def _nonempty(found: Awaitable[list[Team]]) -> object:
    return (await found) or None


async def _nonzero(found: Awaitable[int]) -> object:
    return (await found) or None


async def _in_readonly(db: sqlops.Database, team: Team) -> object:
    async with db.transaction(readonly=True, isolation="REPEATABLE READ") as s:
        return await s.scalar(select(Team).where(Team.id == team.id))


async def test_without_the_option_a_read_right_after_a_write_misses_it(
    make: Make, delayed: Cluster
) -> None:
    db = await make()
    teams = sqlops.Repository(Team, db)
    for name, lookup in LOOKUPS.items():
        team = await teams.create(name=f"plain {name}"[:50])
        assert await lookup(db, team) is None, f"{name}: the delayed replica served the write"


async def test_with_the_option_every_read_route_sees_the_write(
    make: Make, delayed: Cluster
) -> None:
    db = await make(read_your_writes=True)  # waits 0.1 s < the 0.4 s delay: the primary
    teams = sqlops.Repository(Team, db)
    assert db._lag is not None
    for name, lookup in LOOKUPS.items():
        team = await teams.create(name=f"ryw {name}"[:50])
        fallbacks = db._lag.fallbacks
        assert await lookup(db, team) is not None, f"{name}: the write was not seen"
        assert db._lag.fallbacks == fallbacks + 1, f"{name}: not sent to the primary"


async def test_with_a_long_enough_wait_the_replica_serves_the_read(
    make: Make, delayed: Cluster
) -> None:
    db = await make(read_your_writes=2.0)
    teams = sqlops.Repository(Team, db)
    team = await teams.create(name="waited for")
    started = time.monotonic()
    assert await teams.get(team.id) is not None
    waited = time.monotonic() - started
    assert db._lag is not None and db._lag.fallbacks == 0
    assert waited >= APPLY_DELAY_MS / 1000 * 0.5  # it did wait for replay, on the replica
    name = f"read-your-writes, a read waiting out a {APPLY_DELAY_MS} ms apply delay"
    record(name, describe([waited]))


async def test_the_sync_twin_reads_its_writes_too(make: Make, delayed: Cluster) -> None:
    await make()  # the schema
    urls = [r.url(DATABASE) for r in delayed.replicas]
    for option, seen in ((False, False), (True, True)):
        db = sqlops.sync.Database(
            delayed.primary.url(DATABASE), replicas=urls, read_your_writes=option
        )
        try:
            teams = sqlops.sync.Repository(Team, db)
            team = teams.create(name=f"sync twin {option}")
            assert (teams.get(team.id) is not None) is seen
        finally:
            db.dispose()


async def test_a_write_in_one_task_is_seen_by_a_read_in_another(
    make: Make, delayed: Cluster
) -> None:
    db = await make(read_your_writes=True)
    teams = sqlops.Repository(Team, db)
    written: asyncio.Queue[int] = asyncio.Queue()

    async def writer() -> None:  # e.g. the POST request
        await written.put((await teams.create(name="other task")).id)

    async def reader() -> Team | None:  # e.g. the GET that follows it
        return await teams.get(await written.get())

    found, _ = await asyncio.gather(reader(), writer())
    assert found is not None


async def test_a_lagging_replica_is_used_again_once_it_has_caught_up(
    make: Make, delayed: Cluster
) -> None:
    db = await make(read_your_writes=True)
    teams = sqlops.Repository(Team, db)
    team = await teams.create(name="caught up later")
    await asyncio.sleep(APPLY_DELAY_MS / 1000 + 0.3)
    assert db._lag is not None
    before = (db._lag.waits, db._lag.fallbacks)
    for _ in range(4):  # both replicas, twice: checked once each, then trusted
        assert await teams.get(team.id) is not None
    assert db._lag.fallbacks == before[1]
    assert db._lag.waits == before[0] + 2


async def test_reads_that_follow_no_write_are_never_checked(make: Make, healthy: Cluster) -> None:
    db = await make(read_your_writes=True)
    async with sqlops.Database(healthy.primary.url(DATABASE)) as other:
        team = await sqlops.Repository(Team, other).create(name="written elsewhere")
    await asyncio.to_thread(healthy.wait_replayed)
    teams = sqlops.Repository(Team, db)
    for _ in range(10):
        assert await teams.get(team.id) is not None
    assert db._lag is not None and db._lag.waits == 0


async def test_a_read_only_transaction_records_no_position(make: Make, healthy: Cluster) -> None:
    db = await make(read_your_writes=True)
    async with db.transaction(readonly=True) as s:
        await s.scalar(select(Team.id))
    assert db._lag is not None and db._lag.target == 0


async def test_cost_of_a_read_right_after_a_write_and_of_a_plain_read(
    make: Make, healthy: Cluster
) -> None:
    """The figures docs/operations.md quotes (streaming replicas, no artificial delay).

    The two Databases take turns, so the machine's load weighs on both alike.
    """
    rounds = 150
    dbs = {"off": await make(), "on": await make(read_your_writes=True)}
    results: dict[str, list[float]] = {}
    for n in range(rounds):
        for label, db in dbs.items():
            teams = sqlops.Repository(Team, db)
            started = time.perf_counter()
            team = await teams.create(name=f"cost {label} {n}")
            written = time.perf_counter()
            found = await teams.get(team.id)
            results.setdefault(f"read after write, {label}", []).append(
                time.perf_counter() - written
            )
            results.setdefault(f"write, {label}", []).append(written - started)
            assert found is not None or label == "off"
    await asyncio.to_thread(healthy.wait_replayed)
    for db in dbs.values():
        for _ in range(2):  # each replica seen caught up once
            await sqlops.Repository(Team, db).get(1)
    lag = dbs["on"]._lag
    assert lag is not None
    checks = lag.waits
    for _ in range(rounds):
        for label, db in dbs.items():
            started = time.perf_counter()
            await sqlops.Repository(Team, db).get(1)
            results.setdefault(f"read, no write before, {label}", []).append(
                time.perf_counter() - started
            )
    assert lag.waits == checks  # no write since: not one check
    for name, seconds in sorted(results.items()):
        record(f"read-your-writes cost: {name}", describe(seconds))
