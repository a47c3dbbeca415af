"""Fixtures for the reliability suite: a private primary with streaming replicas.

``cluster`` builds its own PostgreSQL cluster (see ``_cluster.py``) once per session when
the server binaries are installed; without them the tests that need it are skipped, or
fail if ``SQLOPS_REQUIRE_REPLICA=1`` (CI sets it: its machines have the binaries).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

import pytest

import sqlops
from tests.models import Base
from tests.reliability._cluster import Cluster, find_bindir
from tests.reliability._figures import FIGURES, record

DATABASE = "reliability"
# One row saying which server answered: a view, so every repository read path can run on it.
WHOAMI_VIEW = (
    "CREATE VIEW whoami AS SELECT 1 AS id, inet_server_port() AS port, "
    "pg_is_in_recovery() AS in_recovery"
)


def _require_replica() -> bool:
    return os.environ.get("SQLOPS_REQUIRE_REPLICA", "") == "1"


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """A private primary and its streaming replicas, stopped and deleted at the end."""
    bindir = find_bindir()
    if bindir is None:
        message = "PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) are not installed"
        if _require_replica():
            pytest.fail(f"{message}, but SQLOPS_REQUIRE_REPLICA=1")
        pytest.skip(message)
    built = Cluster.create(bindir)
    try:
        built.psql(built.primary, f"CREATE DATABASE {DATABASE}")
        built.psql(built.primary, WHOAMI_VIEW, DATABASE)
        built.wait_replayed()
        ports = ", ".join(f"{s.name} :{s.port}" for s in built.servers)
        record(
            "private cluster set-up (2 replicas streaming)",
            f"{built.setup_seconds:.2f} s ({ports})",
        )
        yield built
    finally:
        built.close()


@pytest.fixture
def healthy(cluster: Cluster) -> Cluster:
    """The cluster, with every server up, replay running and the replicas streaming.

    A test that stopped a server or paused replay and then failed must not break the
    tests after it.
    """
    restore(cluster)
    return cluster


def restore(cluster: Cluster) -> None:
    """Start whatever is stopped, resume replay, wait until the replicas stream."""
    for server in cluster.servers:
        if not server.running:
            cluster.start(server)
    for replica in cluster.replicas:
        if cluster.psql(replica, "SELECT pg_is_wal_replay_paused()") == "t":
            cluster.psql(replica, "SELECT pg_wal_replay_resume()")
    cluster.wait_streaming()


@pytest.fixture
async def replicated(healthy: Cluster) -> AsyncIterator[sqlops.Database]:
    """``Database(primary, replicas=[replica1, replica2])`` with the test schema."""
    db = sqlops.Database(
        healthy.primary.url(DATABASE), replicas=[r.url(DATABASE) for r in healthy.replicas]
    )
    await db.drop_all(Base.metadata)
    await db.create_all(Base.metadata)
    await asyncio.to_thread(healthy.wait_replayed)
    try:
        yield db
    finally:
        await db.dispose()
        await asyncio.to_thread(restore, healthy)
        async with sqlops.Database(healthy.primary.url(DATABASE)) as admin:
            await admin.drop_all(Base.metadata)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the reliability tests measured."""
    if FIGURES:
        terminalreporter.section("reliability figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
