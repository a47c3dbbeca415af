"""``python -m benchmarks breakdown``: where a standalone ``get`` spends its time, step by step.

Each step adds one layer to the one before, on the same throwaway PostgreSQL database:

1. raw asyncpg, a prepared statement on a connection held throughout;
2. raw asyncpg ``fetch(sql)`` on that held connection (its statement cache);
3. the same ``fetch`` on a connection checked out of SQLAlchemy's pool and given back
   per call (``AsyncEngine.raw_connection()`` / ``_ConnectionFairy.close``), as sqlops does
   when the lane is off;
4. the same ``fetch`` on a connection taken off the pool's queue and put back by sqlops'
   fast lane (:mod:`sqlops._lane`), as a standalone ``get`` does when nothing watches the pool;
5. ``greenlet_spawn`` of a function that does nothing (each SQLAlchemy checkout and return
   uses one);
6. ``Repository(User, db).get(i)``.

The differences are the cost of each layer. Wall clock and client CPU per call, the
median of ``--runs`` runs of ``--calls`` lookups each.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
from sqlalchemy.util import greenlet_spawn

import sqlops
from sqlops import _lane

from .schema import TABLE_NAME, User, users
from .target import DEFAULT_SERVER_URL, provision

GET = f"SELECT id, email, name FROM {TABLE_NAME} WHERE id = $1"


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks breakdown",
        description="Where a standalone get() spends its time, one layer at a time (PostgreSQL).",
    )
    parser.add_argument("--url", default=DEFAULT_SERVER_URL, help="server to create the db on")
    parser.add_argument("--calls", type=int, default=3000, help="lookups per run")
    parser.add_argument("--runs", type=int, default=5, help="runs per step (median reported)")
    args = parser.parse_args(argv)
    asyncio.run(_main(args.url, args.calls, args.runs))
    return 0


async def _main(server_url: str, calls: int, runs: int) -> None:
    async with provision("postgresql", server_url) as target:
        db = sqlops.Database(target.url)
        try:
            await db.create_all(users.metadata)
            rows = [{"id": i, "email": f"{i}@x", "name": f"n{i}"} for i in range(1, calls + 1)]
            await sqlops.Repository(User, db).create_many(rows)
            conn = await asyncpg.connect(target.dsn)
            try:
                await _steps(db, conn, calls, runs)
            finally:
                await conn.close()
        finally:
            await db.dispose()


async def _steps(db: sqlops.Database, conn: Any, calls: int, runs: int) -> None:
    prepared = await conn.prepare(GET)
    engine = db.engine

    async def pooled(i: int) -> Any:
        fairy = await engine.raw_connection()
        try:
            driver = fairy.driver_connection
            assert driver is not None  # a checked-out connection has one
            return await driver.fetch(GET, i)
        finally:
            await greenlet_spawn(fairy.close)

    async def laned(i: int) -> Any:
        taken = _lane.take(engine.sync_engine)
        assert taken is not None, "the lane is off (a pool listener? pool debug logging?)"
        try:
            return await taken[2].driver_connection.fetch(GET, i)
        finally:
            close = _lane.give_back(taken)
            if close is not None:
                await greenlet_spawn(close)

    async def spawn(i: int) -> None:
        await greenlet_spawn(lambda: None)

    repository = sqlops.Repository(User, db)
    steps: list[tuple[str, Callable[[int], Awaitable[Any]]]] = [
        ("1 raw asyncpg, prepared fetchrow, held connection", prepared.fetchrow),
        ("2 raw asyncpg, fetch(sql), held connection", lambda i: conn.fetch(GET, i)),
        ("3 the same fetch, pool checkout + return per call", pooled),
        ("4 the same fetch on sqlops' pool lane (sqlops._lane)", laned),
        ("5 greenlet_spawn(nothing), for scale", spawn),
        ("6 sqlops Repository.get (on the lane)", repository.get),
    ]
    print(f"get() step by step: {calls:,} lookups, median of {runs} runs, µs per call")
    print(f"{'step':54s} {'wall':>8s} {'CPU':>8s}")
    for label, call in steps:
        for i in range(1, 51):  # warm: statement caches, the pool
            await call(i)
        wall, cpu = await _measure(call, calls, runs)
        print(f"{label:54s} {wall:8.1f} {cpu:8.1f}")


async def _measure(
    call: Callable[[int], Awaitable[Any]], calls: int, runs: int
) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(1, calls + 1):
            await call(i)
        walls.append((time.perf_counter() - wall) / calls * 1e6)
        cpus.append((time.process_time() - cpu) / calls * 1e6)
    return statistics.median(walls), statistics.median(cpus)
