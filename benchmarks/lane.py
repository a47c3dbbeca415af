"""``python -m benchmarks lane``: standalone ``get`` with and without the pool's fast lane.

``sqlops._lane`` takes an idle pooled connection straight off the queue unless something
listens to the pool; adding a no-op ``checkout`` listener is how an application turns it
off, and how this compares the two on the same ``Database``: gets per second and client
CPU per get, for 1, 4 and 20 concurrent tasks on the default pool (5 connections), the
median of ``--runs`` interleaved runs of ``--seconds`` each, on a throwaway PostgreSQL
database.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import event

import sqlops

from .schema import User, users
from .target import DEFAULT_SERVER_URL, provision

ROWS = 2_000


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks lane",
        description="Standalone get() with and without the pool's fast lane (PostgreSQL).",
    )
    parser.add_argument("--url", default=DEFAULT_SERVER_URL, help="server to create the db on")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one run")
    parser.add_argument("--runs", type=int, default=3, help="runs per mode (median reported)")
    parser.add_argument("--tasks", type=int, action="append", help="concurrent tasks (1, 4, 20)")
    args = parser.parse_args(argv)
    asyncio.run(_main(args.url, args.seconds, args.runs, args.tasks or [1, 4, 20]))
    return 0


async def _main(server_url: str, seconds: float, runs: int, concurrency: list[int]) -> None:
    async with provision("postgresql", server_url) as target:
        db = sqlops.Database(target.url)
        try:
            await db.create_all(users.metadata)
            repo = sqlops.Repository(User, db)
            rows = [{"id": i, "email": f"{i}@x", "name": f"n{i}"} for i in range(1, ROWS + 1)]
            await repo.create_many(rows)
            print(f"standalone get(): median of {runs} runs of {seconds:g} s")
            print(f"{'tasks':>5s} {'mode':24s} {'gets/s':>9s} {'CPU µs/get':>11s}")
            for tasks in concurrency:
                for mode, (rate, cpu) in (await _compare(db, repo, tasks, seconds, runs)).items():
                    print(f"{tasks:5d} {mode:24s} {rate:9.0f} {cpu:11.1f}")
        finally:
            await db.dispose()


async def _compare(
    db: sqlops.Database, repo: Any, tasks: int, seconds: float, runs: int
) -> dict[str, tuple[float, float]]:
    engine = db.engine.sync_engine

    def listener(*args: Any) -> None:
        pass

    results: dict[str, list[tuple[float, float]]] = {"lane": [], "checkout (lane off)": []}
    for _ in range(runs):
        results["lane"].append(await _run(repo, tasks, seconds))
        event.listen(engine, "checkout", listener)  # an application listener: no lane
        try:
            results["checkout (lane off)"].append(await _run(repo, tasks, seconds))
        finally:
            event.remove(engine, "checkout", listener)
    return {
        mode: (statistics.median(r for r, _ in got), statistics.median(c for _, c in got))
        for mode, got in results.items()
    }


async def _run(repo: Any, tasks: int, seconds: float) -> tuple[float, float]:
    stop = time.perf_counter() + seconds
    done = [0]

    async def worker(k: int) -> None:
        i = k
        while time.perf_counter() < stop:
            await repo.get(i % ROWS + 1)
            i += 7
            done[0] += 1

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(k) for k in range(tasks)))
    count = max(1, done[0])
    return count / (time.perf_counter() - wall), (time.process_time() - cpu) / count * 1e6
