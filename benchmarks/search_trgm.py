"""sqlops.Search on 1,000,000 rows of PostgreSQL, without and with pg_trgm GIN indexes.

Each query runs through a standalone Repository (asyncpg, prepared statements), median of
``REPEATS`` runs: a 20-row list and a count, for a rare word, a common word and two words.

    python -m benchmarks.search_trgm [ROWS]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from typing import Any

from sqlalchemy import BigInteger, String, text
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import sqlops
from sqlops import Search
from sqlops.testing._throwaway import create_database, drop_database

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
REPEATS = 5
FIRST = ["Ada", "Alan", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Anna", "Joan"]
LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Thompson", "Hamilton", "Ritchie"]
QUERIES = {
    "rare word (10 rows)": "zyxwv",
    "common word (~10% of rows)": "lovelace",
    "two words (~1%)": "ada lovelace",
    "no match": "qqqq",
}


# A prepared statement switches to a generic plan after five runs; a generic plan cannot
# see how selective a LIKE pattern is. This setting keeps planning each run for its values.
CUSTOM_PLANS = {"server_settings": {"plan_cache_mode": "force_custom_plan"}}


class Base(DeclarativeBase):
    pass


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(255))


FILL = """
INSERT INTO people (id, name, email)
SELECT g,
       f.v || ' ' || l.v || CASE WHEN g % 100000 = 7 THEN ' Zyxwv' ELSE '' END,
       lower(f.v) || '.' || lower(l.v) || g || '@example.com'
FROM generate_series(CAST(1 AS bigint), :rows) AS g
CROSS JOIN LATERAL (SELECT (CAST(:first AS text[]))[1 + (g * 7919) % :nfirst] AS v) AS f
CROSS JOIN LATERAL (SELECT (CAST(:last AS text[]))[1 + (g * 104729 / 7) % :nlast] AS v) AS l
"""


async def timed(call: Any) -> tuple[str, Any]:
    times, result = [], None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = await call()
        times.append((time.perf_counter() - start) * 1000)
    return f"{statistics.median(times):7.1f} ms (first {times[0]:7.1f})", result


async def run_queries(people: sqlops.Repository[Person], label: str) -> None:
    print(f"\n{label}")
    for name, words in QUERIES.items():
        search = Search(words, "name", "email")
        list_ms, rows = await timed(lambda s=search: people.list(s, limit=20))
        count_ms, count = await timed(lambda s=search: people.count(s))
        print(
            f"  {name:27} list(limit=20) {list_ms} {len(rows):2} rows;  "
            f"count() {count_ms} = {count:,}"
        )


async def explain(db: sqlops.Database, words: str) -> str:
    people = sqlops.Repository(Person, db)
    stmt = people.select(Search(words, "name", "email"), order_by="id").limit(20)
    dialect = asyncpg.dialect()
    sql = stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    async with db.session() as session:
        plan = (await session.execute(text(f"EXPLAIN ANALYZE {sql}"))).scalars().all()
    return f"  EXPLAIN list(Search({words!r})):\n" + "\n".join(f"    {p}" for p in plan[:8])


async def main(rows: int) -> None:
    url = await create_database(SERVER)
    db = sqlops.Database(url)
    try:
        await db.create_all(Base.metadata)
        start = time.perf_counter()
        async with db.transaction() as session:
            await session.execute(
                text(FILL),
                {"rows": rows, "first": FIRST, "last": LAST,
                 "nfirst": len(FIRST), "nlast": len(LAST)},
            )  # fmt: skip
            await session.execute(text("ANALYZE people"))
        print(f"{rows:,} rows in {time.perf_counter() - start:.1f} s")
        people = sqlops.Repository(Person, db)
        await run_queries(people, "no index (sequential scan)")
        print(await explain(db, "ada lovelace"))
        async with db.transaction() as session:
            await session.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
            start = time.perf_counter()
            for column in ("name", "email"):
                await session.execute(
                    text(f"CREATE INDEX people_{column}_trgm ON people USING gin "
                         f"({column} gin_trgm_ops)")
                )  # fmt: skip
            await session.execute(text("ANALYZE people"))
        print(
            f"\npg_trgm GIN indexes on name and email built in {time.perf_counter() - start:.1f} s"
        )
        await run_queries(people, "with pg_trgm GIN indexes")
        print(await explain(db, "ada lovelace"))
        print(await explain(db, "zyxwv"))
        custom = sqlops.Database(url, engine_options={"connect_args": CUSTOM_PLANS})
        try:
            label = "with pg_trgm GIN indexes and plan_cache_mode = force_custom_plan"
            await run_queries(sqlops.Repository(Person, custom), label)
        finally:
            await custom.dispose()
    finally:
        await db.dispose()
        await drop_database(url)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
