"""sqlops behind PgBouncer (transaction pooling) against raw asyncpg behind the same one.

``python -m benchmarks.pgbouncer`` starts a private PgBouncer (the test suite's harness,
``tests/ops/_pgbouncer.py``) in front of ``$SQLOPS_TEST_POSTGRESQL_URL`` (default the local
server), makes a throwaway database, and times three operations both ways, one task and
16 concurrent tasks: a primary-key read, a filtered 20-row page, a one-row insert.
Raw asyncpg uses ``statement_cache_size=0``: the only way it works through PgBouncer 1.18.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from tests.ops._pgbouncer import PgBouncer, find_binary

import sqlops
from sqlops.testing import create_database, drop_database

ROWS, CALLS, TASKS = 2000, 2000, 16


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "bench_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), index=True)


async def timed(call: Callable[[int], Awaitable[Any]], tasks: int) -> float:
    """Microseconds per call: ``CALLS`` calls spread over ``tasks`` concurrent tasks."""
    per_task = CALLS // tasks

    async def worker(start: int) -> None:
        for i in range(per_task):
            await call(start + i)

    started = time.perf_counter()
    await asyncio.gather(*(worker(t * per_task) for t in range(tasks)))
    return (time.perf_counter() - started) / (per_task * tasks) * 1e6


async def main() -> None:
    binary = find_binary()
    if binary is None:
        raise SystemExit("pgbouncer is not installed (apt-get install pgbouncer)")
    server_url = os.environ.get(
        "SQLOPS_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    server = await create_database(server_url)
    bouncer = PgBouncer.start(binary, "transaction", server, pool_size=8)
    url = bouncer.url(server)
    db = sqlops.Database(url, pooler="pgbouncer", pool_size=TASKS)
    try:
        await db.create_all(Base.metadata)
        items = sqlops.Repository(Item, db)
        await items.create_many([{"id": i, "name": f"n{i % 50}"} for i in range(1, ROWS + 1)])
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        pool = await asyncpg.create_pool(
            dsn, min_size=TASKS, max_size=TASKS, statement_cache_size=0
        )
        new_ids = iter(range(ROWS + 1, 10**9))

        async def raw_get(i: int) -> Any:
            return await pool.fetchrow(
                "SELECT id, name FROM bench_items WHERE id = $1", i % ROWS + 1
            )

        async def raw_page(i: int) -> Any:
            return await pool.fetch(
                "SELECT id, name, count(*) OVER () FROM bench_items WHERE name = $1 "
                "ORDER BY id LIMIT 20", f"n{i % 50}",
            )  # fmt: skip

        async def raw_insert(i: int) -> Any:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO bench_items (id, name) VALUES ($1, $2)", next(new_ids), "x"
                )

        operations = {
            "get": (lambda i: items.get(i % ROWS + 1), raw_get),
            "page (20 rows)": (lambda i: items.page(name=f"n{i % 50}", per_page=20), raw_page),
            "create": (lambda i: items.create(id=next(new_ids), name="x"), raw_insert),
        }
        print(f"through PgBouncer {bouncer.mode} mode, µs per call (median of 3 runs):")
        for name, (ours, raw) in operations.items():
            for tasks in (1, TASKS):
                mine = statistics.median([await timed(ours, tasks) for _ in range(3)])
                theirs = statistics.median([await timed(raw, tasks) for _ in range(3)])
                print(f"  {name:15} {tasks:2} task(s): sqlops {mine:7.0f}  asyncpg {theirs:7.0f}"
                      f"  ratio {mine / theirs:.2f}")  # fmt: skip
        await pool.close()
        await db.drop_all(Base.metadata)
    finally:
        await db.dispose()
        bouncer.stop()
        await drop_database(server)


if __name__ == "__main__":
    asyncio.run(main())
