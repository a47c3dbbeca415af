"""The sync benchmark runs, and every sync peer produces the same rows (tiny sizes, untimed)."""

from __future__ import annotations

from typing import Any

import pytest

import benchmarks.workload as workload
from benchmarks.sync_peers import PEERS
from benchmarks.sync_twin import OPS, report, run

BACKENDS = [
    pytest.param("sqlite", marks=pytest.mark.sqlite),
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_sync_peer_produces_the_same_rows(backend: str, servers: Any) -> None:
    server = None if backend == "sqlite" else servers.url(backend)
    timings = run(backend, rounds=1, sizes=workload.TINY, server=server, warmup=False)
    assert set(timings) == {peer.name for peer in PEERS}
    assert {"raw", "orm", "sqlmodel", "sqlops.sync", "sqlops.sync-injected"} == set(timings)
    for name, ops in timings.items():
        skipped = {"tx-update"} if name == "sqlops.sync" else set()
        assert {op for op, runs in ops.items() if runs} == set(OPS) - skipped
    table = report(backend, timings, OPS, cpu=True)
    assert table.count("\n") == len(OPS) + 1 and "page+count" in table
