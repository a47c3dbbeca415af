"""One scale measurement in a fresh process: ``python -m benchmarks.scale_worker TASK URL ROWS``.

A fresh process per task, so that the memory one task used cannot hide another's peak.
Prints one JSON object on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import statistics
import sys
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from typing import Any, cast

import sqlops

from . import memory, workload
from .schema import User

SAMPLE_EVERY = 10_000


def rows(count: int) -> Iterator[dict[str, Any]]:
    """The rows to insert, made one at a time (never a list)."""
    for i in range(1, count + 1):
        yield {"id": i, "email": workload.email(i), "name": workload.name(i)}


async def create_many(db: sqlops.Database, count: int) -> dict[str, Any]:
    """``create_many`` from a generator: peak memory growth and progress calls."""
    calls: list[int] = []
    before, exact = _baseline()
    start = time.perf_counter()
    done = await sqlops.Repository(User, db).create_many(rows(count), progress=calls.append)
    seconds = time.perf_counter() - start
    return {
        "rows": done,
        "seconds": seconds,
        "us_per_row": seconds * 1e6 / max(done, 1),
        "progress_calls": len(calls),
        "progress_first": calls[:1],
        "progress_last": calls[-1:],
        **_growth(before, exact),
    }


async def materialized(db: sqlops.Database, count: int) -> dict[str, Any]:
    """For contrast: the memory the same rows take as a list (nothing is inserted)."""
    before, exact = _baseline()
    data = list(rows(count))
    return {"rows": len(data), **_growth(before, exact)}


async def stream(db: sqlops.Database, count: int) -> dict[str, Any]:
    """``stream()`` over the whole table: RSS sampled every 10,000 rows."""
    before, exact = _baseline()
    samples: list[int] = []
    seen = 0
    start = time.perf_counter()
    repo = sqlops.Repository(User, db)
    # stream() is annotated AsyncIterator, but it is an async generator (it has aclose).
    generator = cast(AsyncGenerator[User, None], repo.stream(batch_size=1000))
    async with contextlib.aclosing(generator) as items:
        async for _ in items:
            seen += 1
            if seen % SAMPLE_EVERY == 0:
                samples.append(memory.status()["VmRSS"])
    seconds = time.perf_counter() - start
    first = samples[0] if samples else before
    return {
        "rows": seen,
        "seconds": seconds,
        "us_per_row": seconds * 1e6 / max(seen, 1),
        "rss_samples_kib": samples,
        "rss_first_sample_kib": first,
        "rss_max_sample_kib": max(samples, default=first),
        "rss_drift_kib": max(samples, default=first) - first,
        **_growth(before, exact),
    }


async def raw_stream(db: sqlops.Database, count: int) -> dict[str, Any]:
    """For contrast: the raw driver's cursor over the same rows (tuples, no instances)."""
    sql = "SELECT id, email, name FROM users ORDER BY id"
    seen = 0
    start = time.perf_counter()
    if db.dialect == "postgresql":
        import asyncpg

        dsn = db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        try:
            async with conn.transaction():
                async for _ in conn.cursor(sql, prefetch=1000):
                    seen += 1
        finally:
            await conn.close()
    else:
        import aiosqlite

        async with aiosqlite.connect(str(db.url.database)) as lite:
            lite.row_factory = None
            async with lite.execute(sql) as cursor:
                async for _ in cursor:
                    seen += 1
    seconds = time.perf_counter() - start
    return {"rows": seen, "seconds": seconds, "us_per_row": seconds * 1e6 / max(seen, 1)}


async def pages(db: sqlops.Database, count: int) -> dict[str, Any]:
    """First vs deep (90%) page: ``cursor_page`` (keyset) and offset ``page()``."""
    repo = sqlops.Repository(User, db)
    per_page, deep = 50, int(count * 0.9)
    # A cursor positioned after row ``deep``: cursors encode the ordering, not the filter.
    start = await repo.cursor_page(User.id > deep - per_page, limit=per_page)
    after = start.next_cursor
    deep_page = await repo.cursor_page(after=after, limit=per_page)
    assert deep_page.items[0].id == deep + 1, deep_page.items[0].id
    offset_page = deep // per_page + 1
    return {
        "deep_row": deep,
        "per_page": per_page,
        "cursor_first_ms": await _median_ms(lambda: repo.cursor_page(limit=per_page), 20),
        "cursor_deep_ms": await _median_ms(
            lambda: repo.cursor_page(after=after, limit=per_page), 20
        ),
        "offset_first_ms": await _median_ms(lambda: repo.page(page=1, per_page=per_page), 5),
        "offset_deep_ms": await _median_ms(
            lambda: repo.page(page=offset_page, per_page=per_page), 5
        ),
    }


async def _median_ms(call: Callable[[], Awaitable[Any]], times: int) -> float:
    await call()  # warm
    spent = []
    for _ in range(times):
        start = time.perf_counter()
        await call()
        spent.append((time.perf_counter() - start) * 1000)
    return statistics.median(spent)


def _baseline() -> tuple[int, bool]:
    gc.collect()
    exact = memory.reset_peak()
    now = memory.status()
    return (now["VmRSS"] if exact else memory.max_rss_kib()), exact


def _growth(before: int, exact: bool) -> dict[str, Any]:
    peak = memory.status()["VmHWM"] if exact else memory.max_rss_kib()
    return {
        "rss_before_kib": before,
        "rss_peak_kib": peak,
        "peak_growth_kib": peak - before,
        "peak_method": "VmHWM after clear_refs" if exact else "ru_maxrss delta",
    }


TASKS: dict[str, Callable[[sqlops.Database, int], Awaitable[dict[str, Any]]]] = {
    "create_many": create_many,
    "materialized": materialized,
    "stream": stream,
    "raw_stream": raw_stream,
    "pages": pages,
}


async def _main(task: str, url: str, count: int) -> dict[str, Any]:
    db = sqlops.Database(url)
    try:
        await db.ping()
        return {"task": task, **await TASKS[task](db, count)}
    finally:
        await db.dispose()


if __name__ == "__main__":
    name, target_url, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(asyncio.run(_main(name, target_url, total))))
