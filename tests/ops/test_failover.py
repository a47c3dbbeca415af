"""Failover on a private primary + streaming replica: multi-host URLs, lost commits, retries.

The cluster is built by the reliability suite's harness (``tests/reliability/_cluster.py``)
with synchronous replication to the replica that will be promoted, so that a commit that
returned is on both servers. The last test destroys the primary; it runs last.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

import sqlops
from sqlops._failover import split_hosts
from tests.ops.conftest import record
from tests.reliability._cluster import Cluster, find_bindir

pytestmark = [pytest.mark.postgresql, pytest.mark.slow]
DATABASE = "failover"
LEDGER = "CREATE TABLE ledger (id serial PRIMARY KEY, token text NOT NULL, writer int NOT NULL)"


def test_a_multi_host_url_reaches_asyncpg_as_host_and_port_lists() -> None:
    raw = "postgresql://app@10.0.0.1:5432,10.0.0.2:5433/db?target_session_attrs=read-write"
    assert split_hosts(raw) == (
        "postgresql://app@/db?host=10.0.0.1:5432&host=10.0.0.2:5433&target_session_attrs=read-write"
    )
    db = sqlops.Database(raw)
    _, kwargs = db.engine.dialect.create_connect_args(db.engine.url)
    assert kwargs["host"] == ["10.0.0.1", "10.0.0.2"]
    assert kwargs["port"] == [5432, 5433]
    assert kwargs["target_session_attrs"] == "read-write"
    assert "10.0.0.2%3A5433" in repr(db)  # SQLAlchemy quotes the colon in the query
    assert split_hosts("postgresql://app@h/db") == "postgresql://app@h/db"


def test_multi_host_urls_from_the_environment_and_for_replicas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@h1:5432,h2:5433/db")
    db = sqlops.Database(
        replicas=["postgresql://app@h1:5432,h2:5433/db?target_session_attrs=prefer-standby"]
    )
    _, primary = db.engine.dialect.create_connect_args(db.engine.url)
    _, replica = db.engine.dialect.create_connect_args(db.replicas[0].url)
    assert primary["host"] == replica["host"] == ["h1", "h2"]
    assert replica["target_session_attrs"] == "prefer-standby"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    bindir = find_bindir()
    if bindir is None:
        message = "PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) are not installed"
        if os.environ.get("SQLOPS_REQUIRE_REPLICA", "") == "1":
            pytest.fail(f"{message}, but SQLOPS_REQUIRE_REPLICA=1")
        pytest.skip(message)
    built = Cluster.create(bindir)
    try:
        built.stop(built.replicas[1])  # one standby: the one that will be promoted
        built.psql(built.primary, "ALTER SYSTEM SET synchronous_standby_names = '*'")
        built.psql(built.primary, "SELECT pg_reload_conf()")
        built.psql(built.primary, f"CREATE DATABASE {DATABASE}")
        built.psql(built.primary, LEDGER, DATABASE)
        yield built
    finally:
        built.close()


def both(cluster: Cluster) -> str:
    """The multi-host URL of the primary and the standby, asking for the writable one."""
    hosts = ",".join(f"127.0.0.1:{s.port}" for s in (cluster.primary, cluster.replica))
    return f"postgresql://postgres@{hosts}/{DATABASE}?target_session_attrs=read-write"


@pytest.fixture
async def db(cluster: Cluster) -> AsyncIterator[sqlops.Database]:
    database = sqlops.Database(both(cluster), pool_size=4)
    yield database
    await database.dispose()


def count(cluster: Cluster, token: str) -> int:
    sql = f"SELECT count(*) FROM ledger WHERE token = '{token}'"
    return int(cluster.psql(cluster.primary, sql, DATABASE))


async def insert(session: AsyncSession, token: str, writer: int = 0) -> None:
    await session.execute(
        text("INSERT INTO ledger (token, writer) VALUES (:t, :w)"), {"t": token, "w": writer}
    )


def kill_own_backend(cluster: Cluster, session_pid: int) -> None:
    """Terminate the backend serving us (blocking: our loop cannot notice meanwhile)."""
    assert cluster.terminate(cluster.primary, f"pid = {session_pid}", DATABASE) == 1


async def test_a_connection_lost_during_commit_is_ambiguous_and_never_retried(
    db: sqlops.Database, cluster: Cluster
) -> None:
    token, calls = uuid.uuid4().hex, 0

    async def write(session: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        await insert(session, token)
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
        connection = await session.connection()
        # "commit" fires just before COMMIT is sent: the server goes away under it.
        event.listen(
            connection.sync_connection, "commit", lambda conn: kill_own_backend(cluster, pid)
        )

    with pytest.raises(sqlops.AmbiguousCommitError) as caught:
        await db.run(write, retry_disconnects=True)
    assert isinstance(caught.value, sqlops.DatabaseUnavailableError)
    assert isinstance(caught.value.__cause__, sqlops.DatabaseUnavailableError)
    assert calls == 1  # not retried blindly
    assert count(cluster, token) == 0  # here the COMMIT never arrived; the caller cannot know


async def test_a_connection_lost_before_commit_is_retried_with_retry_disconnects(
    db: sqlops.Database, cluster: Cluster
) -> None:
    token, calls = uuid.uuid4().hex, 0

    async def write(session: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        await insert(session, token)
        if calls == 1:
            kill_own_backend(cluster, await session.scalar(text("SELECT pg_backend_pid()")))
            await session.execute(text("SELECT 1"))  # the lost connection shows here

    with pytest.raises(sqlops.DatabaseUnavailableError) as caught:
        await db.run(write)  # without the option: raised, nothing written
    assert not isinstance(caught.value, sqlops.AmbiguousCommitError)
    assert count(cluster, token) == 0
    calls = 0
    await db.run(write, retry_disconnects=True)
    assert calls == 2
    assert count(cluster, token) == 1


def test_retry_disconnects_is_validated() -> None:
    db = sqlops.Database("sqlite+aiosqlite://")

    async def nothing(session: AsyncSession) -> None:
        return None

    for bad in (0, -1.5, "yes"):
        with pytest.raises(ValueError, match="retry_disconnects"):
            asyncio.run(db.run(nothing, retry_disconnects=bad))  # type: ignore[arg-type]


@dataclass
class Load:
    """What each write of the steady load returned, and when."""

    ok: dict[str, float] = field(default_factory=dict)
    ambiguous: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stop: bool = False

    async def writer(self, db: sqlops.Database, number: int) -> None:
        while not self.stop:
            token = uuid.uuid4().hex
            try:
                await db.run(insert, token, number, retry_disconnects=20.0)
            except sqlops.AmbiguousCommitError:
                self.ambiguous.append(token)
            except sqlops.DatabaseUnavailableError:
                self.failed.append(token)
            else:
                self.ok[token] = time.monotonic()
            await asyncio.sleep(0.005)  # ~150 writes a second per writer


async def test_writes_resume_after_the_primary_dies_and_the_replica_is_promoted(
    db: sqlops.Database, cluster: Cluster
) -> None:
    load = Load()
    writers = [asyncio.create_task(load.writer(db, n)) for n in range(3)]
    await asyncio.sleep(1.0)
    before = len(load.ok)
    assert before > 20
    killed = time.monotonic()
    await asyncio.to_thread(cluster.stop, cluster.primary, "immediate")
    down = time.monotonic()  # writes in flight until now may still have landed
    await asyncio.sleep(0.5)  # a failover manager takes a moment to decide
    promoting = time.monotonic()
    # The harness has no promote(): its runner, as the replica suite's restart() uses it.
    replica = str(cluster.replica.datadir)
    await asyncio.to_thread(cluster._run, "pg_ctl", "-D", replica, "-w", "promote")
    promoted = time.monotonic()
    for _ in range(1500):  # until a write lands on the new primary (15 s at most)
        if any(t > promoted for t in load.ok.values()):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)  # a little steady state on the new primary
    load.stop = True
    await asyncio.gather(*writers)
    after = [t for t in load.ok.values() if t > down]
    assert after, "no write succeeded after the failover"
    resumed = min(after)
    times = sorted(load.ok.values())
    gap = max(b - a for a, b in itertools.pairwise(times))
    new_primary = cluster.replica
    rows = cluster.psql(new_primary, "SELECT token, count(*) FROM ledger GROUP BY token", DATABASE)
    present = dict(line.split("|") for line in rows.splitlines())
    lost = [t for t in load.ok if t not in present]
    doubled = [t for t, n in present.items() if int(n) > 1]
    ambiguous_landed = sum(1 for t in load.ambiguous if t in present)
    record(
        "failover: primary stopped (immediate) -> replica promoted (pg_ctl promote -w)",
        f"stop {down - killed:.2f} s, wait {promoting - down:.2f} s, "
        f"promote {promoted - promoting:.2f} s",
    )
    record(
        "failover: writes succeeded again",
        f"{resumed - down:.2f} s after the primary was down, {resumed - promoted:.3f} s after "
        f"promotion; longest gap between two successful writes {gap:.2f} s",
    )
    record(
        "failover: writes",
        f"{len(load.ok)} succeeded ({before} before), lost {len(lost)}, applied twice "
        f"{len(doubled)}, ambiguous {len(load.ambiguous)} ({ambiguous_landed} landed), "
        f"failed {len(load.failed)}",
    )
    assert lost == []
    assert doubled == []
    assert load.failed == []  # retry_disconnects waited the failover out
    assert resumed - promoted < 5.0
