"""Read replicas on a real streaming replica pair: routing, failover, recovery, lag.

Every read path is run against the ``whoami`` view (``inet_server_port()``,
``pg_is_in_recovery()``), so the rows themselves say which server answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column

import sqlops
from sqlops import _database
from tests.models import Team
from tests.reliability._cluster import Cluster
from tests.reliability._figures import describe, record
from tests.reliability.conftest import DATABASE

pytestmark = pytest.mark.postgresql


class ProbeBase(DeclarativeBase):
    pass


class Probe(ProbeBase):
    """The ``whoami`` view: a plain model, so reads take the session-free fast paths."""

    __tablename__ = "whoami"
    id: Mapped[int] = mapped_column(primary_key=True)
    port: Mapped[int]
    in_recovery: Mapped[bool]


class SessionProbe(ProbeBase):
    """The same view with a SQL expression column: reads take the ORM session path."""

    __table__ = Probe.__table__
    doubled = column_property(Probe.__table__.c.port * 2)


Read = Callable[[sqlops.Database], Awaitable[int]]


async def _tx_port(db: sqlops.Database) -> int:
    async with db.transaction(readonly=True) as s:
        return int((await s.execute(text("SELECT inet_server_port()"))).scalar_one())


async def _stream_port(db: sqlops.Database) -> int:
    async with contextlib.aclosing(sqlops.Repository(Probe, db).stream()) as rows:
        ports = [p.port async for p in rows]
    return ports[0]


def _probe(db: sqlops.Database) -> sqlops.Repository[Probe]:
    return sqlops.Repository(Probe, db)


def _session_probe(db: sqlops.Database) -> sqlops.Repository[SessionProbe]:
    return sqlops.Repository(SessionProbe, db)


# Each read path, as "which server port answered this call".
READS: dict[str, Read] = {
    "get (driver fast path)": lambda db: _port(_probe(db).get(1)),
    "get_one": lambda db: _port(_probe(db).get_one(1)),
    "first (core path)": lambda db: _port(_probe(db).first()),
    "one": lambda db: _port(_probe(db).one(id=1)),
    "list": lambda db: _first_port(_probe(db).list()),
    "page": lambda db: _items_port(_probe(db).page()),
    "cursor_page": lambda db: _items_port(_probe(db).cursor_page()),
    "get (ORM session path)": lambda db: _port(_session_probe(db).get(1)),
    "list (ORM session path)": lambda db: _first_port(_session_probe(db).list()),
    "stream": _stream_port,
    "transaction(readonly=True)": _tx_port,
}


async def _port(found: Awaitable[Probe | SessionProbe | None]) -> int:
    obj = await found
    assert obj is not None
    return obj.port


async def _first_port(found: Awaitable[list[Probe] | list[SessionProbe]]) -> int:
    return (await found)[0].port


async def _items_port(found: Awaitable[sqlops.Page[Probe] | sqlops.CursorPage[Probe]]) -> int:
    return (await found).items[0].port


async def test_the_replicas_really_stream_from_the_primary(healthy: Cluster) -> None:
    streaming = healthy.psql(
        healthy.primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
    )
    assert int(streaming) == len(healthy.replicas) == 2
    for replica in healthy.replicas:
        assert healthy.psql(replica, "SELECT pg_is_in_recovery()") == "t"
    healthy.psql(healthy.primary, "CREATE TABLE streamed (x int); INSERT INTO streamed VALUES (7)")
    try:
        await asyncio.to_thread(healthy.wait_replayed)
        for replica in healthy.replicas:
            assert healthy.psql(replica, "SELECT x FROM streamed") == "7"
    finally:
        healthy.psql(healthy.primary, "DROP TABLE streamed")


async def test_every_standalone_read_goes_to_the_replicas_round_robin(
    replicated: sqlops.Database, healthy: Cluster
) -> None:
    replica_ports = [r.port for r in healthy.replicas]
    for name, read in READS.items():
        ports = [await read(replicated) for _ in range(4)]
        assert set(ports) == set(replica_ports), f"{name} was served by {ports}"
        assert ports[0] != ports[1] and ports[:2] == ports[2:], f"{name}: not round robin"
    probes = _probe(replicated)
    assert await probes.count(in_recovery=True) == 1  # count and exists: no port to return
    assert await probes.exists(in_recovery=True)
    assert (await probes.get(1)) is not None and not (await probes.exists(in_recovery=False))


async def test_a_write_transaction_reads_and_writes_on_the_primary(
    replicated: sqlops.Database, healthy: Cluster
) -> None:
    async with replicated.transaction() as s:
        team = await sqlops.Repository(Team, s).create(name="own write")
        assert await sqlops.Repository(Team, s).get(team.id) is not None  # reads its own write
        assert (await sqlops.Repository(Probe, s).get_one(1)).port == healthy.primary.port
        assert (await sqlops.Repository(SessionProbe, s).list())[0].port == healthy.primary.port
        assert await sqlops.Repository(Probe, s).count(in_recovery=False) == 1
        port = (await s.execute(text("SELECT inet_server_port()"))).scalar_one()
        assert port == healthy.primary.port

    async def in_run(s: AsyncSession) -> int:
        return (await s.execute(select(Probe.port))).scalar_one()

    assert await replicated.run(in_run) == healthy.primary.port
    async with replicated.session() as s:
        assert (await s.execute(select(Probe.port))).scalar_one() == healthy.primary.port


async def test_a_stopped_replica_is_skipped_and_used_again_once_it_is_back(
    replicated: sqlops.Database, healthy: Cluster
) -> None:
    first, second = healthy.replicas
    load = _StandaloneReads(replicated)
    async with load.running():
        await asyncio.sleep(0.2)
        await asyncio.to_thread(healthy.stop, first, "immediate")  # reads in flight on it
        await asyncio.sleep(0.3)
    assert load.errors == [] and load.done > 10
    for name, read in READS.items():
        ports = [await read(replicated) for _ in range(3)]
        assert set(ports) == {second.port}, f"{name} after the stop was served by {ports}"
    marked = replicated._replica_down[0]

    await asyncio.to_thread(healthy.start, first)
    back_up = time.monotonic()
    ports = [await read(replicated) for read in READS.values()]
    if time.monotonic() - marked < _database._REPLICA_RETRY_AFTER:
        assert set(ports) == {second.port}  # still skipped: it is retried after 5 s only
    await asyncio.sleep(max(0.0, marked + _database._REPLICA_RETRY_AFTER - time.monotonic()))
    ports = [await read(replicated) for read in READS.values() for _ in range(2)]
    assert set(ports) == {first.port, second.port}
    record(
        "replica back in rotation after it came up",
        f"{time.monotonic() - back_up:.1f} s (retried {_database._REPLICA_RETRY_AFTER:g} s "
        "after it was marked down)",
    )
    assert 0 not in replicated._replica_down


class _StandaloneReads:
    """Background tasks doing standalone reads of every kind, counting failures."""

    def __init__(self, db: sqlops.Database, tasks: int = 6) -> None:
        self.db, self.tasks = db, tasks
        self.done = 0
        self.errors: list[BaseException] = []
        self._stop = asyncio.Event()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        workers = [asyncio.create_task(self._work()) for _ in range(self.tasks)]
        try:
            yield
        finally:
            self._stop.set()
            await asyncio.gather(*workers)

    async def _work(self) -> None:
        reads = [
            READS[name] for name in READS if name not in ("stream", "transaction(readonly=True)")
        ]
        while not self._stop.is_set():
            for read in reads:
                try:
                    await read(self.db)
                    self.done += 1
                except Exception as exc:
                    self.errors.append(exc)


async def test_with_every_replica_down_reads_go_to_the_primary(
    replicated: sqlops.Database, healthy: Cluster
) -> None:
    for replica in healthy.replicas:
        await asyncio.to_thread(healthy.stop, replica, "immediate")
    for name, read in READS.items():
        assert await read(replicated) == healthy.primary.port, name
    # still read-only on the primary (SQLSTATE 25006)
    with pytest.raises(sqlops.ReadOnlyTransactionError, match="read-only transaction"):
        async with replicated.transaction(readonly=True) as s:
            await s.execute(text("CREATE TABLE nope (x int)"))


async def test_a_write_in_a_replica_transaction_is_a_typed_error(
    replicated: sqlops.Database, healthy: Cluster
) -> None:
    with pytest.raises(sqlops.ReadOnlyTransactionError, match="read-only transaction"):
        async with replicated.transaction(readonly=True) as s:
            port = (await s.execute(text("SELECT inet_server_port()"))).scalar_one()
            assert port != healthy.primary.port  # on a standby
            await s.execute(text("CREATE TABLE nope (x int)"))


async def test_replica_pool_timeout_is_raised_not_taken_for_a_dead_replica(
    healthy: Cluster,
) -> None:
    db = sqlops.Database(
        healthy.primary.url(DATABASE),
        replicas=[healthy.replica.url(DATABASE)],
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.2,
    )
    try:
        async with db.transaction(readonly=True):  # holds the replica's only connection
            with pytest.raises(sqlops.PoolTimeoutError, match="pool_size=1"):
                await _probe(db).get(1)
            with pytest.raises(sqlops.PoolTimeoutError):
                await _tx_port(db)
        assert db._replica_down == {}  # busy is not down
        assert await _tx_port(db) == healthy.replica.port
    finally:
        await db.dispose()


async def test_replication_lag_standalone_reads_can_be_stale_transactions_are_not(
    replicated: sqlops.Database, healthy: Cluster
) -> None:
    teams = sqlops.Repository(Team, replicated)
    lags = [await _visible_after(replicated, f"lag {n}") for n in range(20)]
    record("replication lag, commit to visible on a replica (idle cluster)", describe(lags))

    for replica in healthy.replicas:
        healthy.psql(replica, "SELECT pg_wal_replay_pause()")
    team = await teams.create(name="written while replay is paused")
    assert await teams.get(team.id) is None  # stale: the replica has not replayed it
    assert await teams.list(name=team.name) == []
    assert await teams.count(name=team.name) == 0
    async with replicated.transaction(readonly=True) as s:
        assert await s.get(Team, team.id) is None
    async with replicated.transaction() as s:  # a write transaction: the primary, fresh
        assert await sqlops.Repository(Team, s).get(team.id) is not None
    for replica in healthy.replicas:
        healthy.psql(replica, "SELECT pg_wal_replay_resume()")
    await asyncio.to_thread(healthy.wait_replayed)
    assert await teams.get(team.id) is not None
    assert await teams.get(team.id) is not None  # on both replicas


async def _visible_after(db: sqlops.Database, name: str) -> float:
    """Seconds from a committed create until a standalone read on a replica sees the row."""
    teams = sqlops.Repository(Team, db)
    team = await teams.create(name=name)
    committed = time.monotonic()
    for _ in range(10_000):
        if await teams.get(team.id) is not None:
            return time.monotonic() - committed
        await asyncio.sleep(0.0005)
    raise AssertionError(f"{name} never reached the replicas")
