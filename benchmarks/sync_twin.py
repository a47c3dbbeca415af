"""``python -m benchmarks.sync_twin``: the sync API beside raw sync drivers, the ORM, SQLModel.

The async benchmark's workload (:mod:`benchmarks.workload`: the ``users`` table, the same
inputs and expected rows) for ``def`` code: insert, get, page+count, upsert and tx-update,
each peer in :mod:`benchmarks.sync_peers`. Per round every operation runs for every peer,
in an order rotated by one place per round, on a freshly seeded table for the writes; the
first round's results are checked against the expected rows. The table shows the median µs
per item over the rounds (wall clock), and the ratio to the raw driver as the median of the
per-round ratios; ``--cpu`` adds the client CPU times.

    python -m benchmarks.sync_twin --backend sqlite|postgresql|mysql [--rounds 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from sqlops.testing._throwaway import create_database, drop_database

from . import workload
from .schema import Base
from .sync_peers import PEERS, Peer, Raw, as_row, plain_engine
from .target import DEFAULT_MYSQL_URL, DEFAULT_SERVER_URL
from .workload import Sizes

OPS = ("insert", "get", "page", "upsert", "tx-update")
DRIVERS = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql", "sqlite": "sqlite"}


@contextmanager
def provision(backend: str, server: str | URL | None = None) -> Iterator[URL]:
    """A fresh empty database on ``backend`` (a sync URL); dropped afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="sqlops-sync-bench-") as tmp:
            yield make_url(f"sqlite:///{Path(tmp) / 'bench.db'}")
        return
    if not server:
        server = DEFAULT_MYSQL_URL if backend == "mysql" else DEFAULT_SERVER_URL
    url = asyncio.run(create_database(server))
    try:
        yield url.set(drivername=DRIVERS[backend])
    finally:
        asyncio.run(drop_database(url))


class Table:
    """Resets ``users`` to a known state with the raw driver; remembers the last one."""

    def __init__(self, url: URL, backend: str) -> None:
        self.raw = Raw(url, backend)
        self.backend = backend
        self.state: object = None

    def reset(self, rows: list[workload.Row]) -> None:
        key = (len(rows), rows[:1], rows[-1:])
        if key == self.state:
            return
        cursor = self.raw.conn.cursor()
        delete = {"sqlite": "DELETE FROM users", "mysql": "TRUNCATE TABLE users"}
        cursor.execute(delete.get(self.backend, "TRUNCATE users"))
        cursor.close()
        if rows:
            self.raw.insert([{"id": i, "email": e, "name": n} for i, e, n in rows])
        cursor = self.raw.conn.cursor()
        analyze = {"postgresql": "VACUUM ANALYZE users", "mysql": "ANALYZE TABLE users"}
        cursor.execute(analyze.get(self.backend, "ANALYZE"))
        if self.backend == "mysql":
            cursor.fetchall()
        cursor.close()
        self.state = key

    def changed(self) -> None:
        self.state = None

    def rows(self) -> list[workload.Row]:
        cursor = self.raw.conn.cursor()
        cursor.execute("SELECT id, email, name FROM users ORDER BY id")
        out = [tuple(r) for r in cursor.fetchall()]
        cursor.close()
        return out  # type: ignore[return-value]


class Work:
    """Inputs, start states and checks of every operation at one size."""

    def __init__(self, sizes: Sizes) -> None:
        self.sizes = sizes
        self.full = workload.seed_rows(sizes.rows)
        self.ids = workload.get_ids(sizes)
        self.changes = [(i, workload.updated_name(i)) for i in workload.tx_update_ids(sizes)]

    def start(self, op: str) -> list[workload.Row]:
        return {"insert": [], "upsert": workload.upsert_seed(self.sizes)}.get(op, self.full)

    def call(self, peer: Peer, op: str) -> Callable[[], Any]:
        sizes = self.sizes
        if op == "insert":
            rows = workload.insert_input(sizes)
            return lambda: peer.insert(rows)  # type: ignore[attr-defined]
        if op == "get":
            return lambda: peer.get(self.ids)  # type: ignore[attr-defined]
        if op == "page":
            numbers = workload.page_numbers(sizes)
            pattern = workload.LIKE_PATTERN
            return lambda: peer.page(numbers, sizes.per_page, pattern)  # type: ignore[attr-defined]
        if op == "upsert":
            rows = workload.upsert_input(sizes)
            return lambda: peer.upsert(rows)  # type: ignore[attr-defined]
        return lambda: peer.tx_update(self.changes)  # type: ignore[attr-defined]

    def check(self, op: str, result: Any, table: Table) -> bool:
        sizes = self.sizes
        if op == "get":
            return [as_row(r) for r in result] == [workload.seed_row(i) for i in self.ids]
        if op == "page":
            got = [([as_row(r) for r in items], total) for items, total in result]
            return got == workload.page_expected(sizes)
        expected = {
            "insert": self.full,
            "upsert": workload.upsert_expected(sizes),
            "tx-update": workload.tx_update_expected(sizes),
        }[op]
        return table.rows() == expected


Timings = dict[str, dict[str, list[tuple[float, float]]]]  # peer -> op -> [(wall, cpu)]


def run(
    backend: str,
    rounds: int,
    sizes: Sizes,
    ops: Sequence[str] = OPS,
    server: str | URL | None = None,
    warmup: bool = True,
) -> Timings:
    """Time every peer on every op; ``SystemExit`` if one produced the wrong rows."""
    with provision(backend, server) as url:
        engine = plain_engine(url, backend)
        Base.metadata.create_all(engine)
        engine.dispose()
        table = Table(url, backend)
        peers = [cls(url, backend) for cls in PEERS]
        try:
            if warmup:
                _round(peers, ops, Work(workload.TINY), table, None)  # checked too
            work = Work(sizes)
            timings: Timings = {p.name: {op: [] for op in ops} for p in peers}
            gc.collect()
            gc.freeze()
            for r in range(rounds):
                shift = r % len(peers)
                _round(peers[shift:] + peers[:shift], ops, work, table, timings, check=r == 0)
                print(f"  round {r + 1}/{rounds} done", file=sys.stderr)
            return timings
        finally:
            for peer in peers:
                peer.close()
            table.raw.close()


def _round(
    peers: list[Peer],
    ops: Sequence[str],
    work: Work,
    table: Table,
    timings: Timings | None,
    check: bool = True,
) -> None:
    for op in ops:
        for peer in peers:
            if op in peer.skips:
                continue
            table.reset(work.start(op))
            call = work.call(peer, op)
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            result = call()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if op in workload.WRITES:
                table.changed()
            if check and not work.check(op, result, table):
                raise SystemExit(f"{peer.name} {op}: WRONG rows")
            if timings is not None:
                items = work.sizes.items(op)
                timings[peer.name][op].append((wall / items * 1e6, cpu / items * 1e6))


def report(backend: str, timings: Timings, ops: Sequence[str], cpu: bool) -> str:
    """A markdown table: µs per item (median) and x raw (median of per-round ratios)."""
    names = list(timings)
    head = f"| {backend} | " + " | ".join(names) + " |"
    lines = [head, "|---" * (len(names) + 1) + "|"]
    for op in ops:
        raw = timings["raw"][op]
        cells = []
        for name in names:
            runs = timings[name][op]
            if not runs:
                cells.append("—")
                continue
            wall = statistics.median(w for w, _ in runs)
            ratio = statistics.median(w / rw for (w, _), (rw, _) in zip(runs, raw, strict=True))
            cell = f"{wall:,.1f} µs" + ("" if name == "raw" else f" x{ratio:.2f}")
            if cpu:
                cell += f" (cpu {statistics.median(c for _, c in runs):,.1f})"
            cells.append(cell)
        label = "page+count" if op == "page" else op
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sync_twin")
    parser.add_argument("--backend", choices=tuple(DRIVERS), default="sqlite")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a fifth of the work")
    parser.add_argument("--op", action="append", choices=OPS, help="default: all")
    parser.add_argument("--cpu", action="store_true", help="add client CPU µs per item")
    ns = parser.parse_args(argv)
    ops = ns.op or OPS
    sizes = workload.QUICK if ns.quick else workload.FULL
    timings = run(ns.backend, ns.rounds, sizes, ops)
    print(f"{ns.backend}: µs per item, median of {ns.rounds} rounds; x = ratio to raw")
    print(report(ns.backend, timings, ops, ns.cpu))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
