"""Raw asyncpg: the physical limit on PostgreSQL.

One connection, prepared statements, COPY for the insert: what you would write by hand
with no library at all. Everything else is measured against it.

The transaction operations take a connection from an ``asyncpg.create_pool`` per call, as
the peers take one from SQLAlchemy's pool: ``BEGIN``, the statements (asyncpg's own
prepared-statement cache), ``COMMIT``. The pool's ``reset`` on release is a no-op here:
asyncpg's default sends ``RESET ALL`` and friends (one more round trip per call) where
SQLAlchemy's pool sends nothing after a commit, and the limit should not pay for it.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from .implementation import Change, Implementation, PageResult
from .schema import COLUMNS, TABLE_NAME

GET = f"SELECT id, email, name FROM {TABLE_NAME} WHERE id = $1"
PAGE = (
    f"SELECT id, email, name, count(*) OVER () AS total FROM {TABLE_NAME} "
    "WHERE name LIKE $1 ORDER BY id LIMIT $2 OFFSET $3"
)
UPSERT = (
    f"INSERT INTO {TABLE_NAME} (id, email, name) VALUES ($1, $2, $3) "
    "ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name"
)
UPDATE = f"UPDATE {TABLE_NAME} SET name = $1 WHERE id = $2"
ALL = f"SELECT id, email, name FROM {TABLE_NAME} ORDER BY id"


async def _no_reset(conn: Any) -> None:
    """Release a connection as is: each call committed, and nothing else changes state."""


class AsyncpgImpl(Implementation):
    name = "asyncpg"
    backends = ("postgresql",)
    raw = True
    notes = {
        "page": "a page past the end would need a second query for the total",
        "tx-get": "pool.acquire() per call (asyncpg.create_pool, no reset on release), "
        "then BEGIN; fetchrow; COMMIT",
        "tx-update": "pool.acquire() per call, then BEGIN; fetchrow; execute(UPDATE); COMMIT",
        "stream": "a server-side cursor (conn.cursor(prefetch=batch)) in a transaction: records",
    }

    async def open(self) -> None:
        self.conn: Any = await asyncpg.connect(self.target.dsn)
        self.pool: Any = await asyncpg.create_pool(
            self.target.dsn, min_size=1, max_size=2, reset=_no_reset
        )

    async def close(self) -> None:
        await self.conn.close()
        await self.pool.close()

    async def insert(self, rows: list[dict[str, Any]]) -> None:
        records = [(r["id"], r["email"], r["name"]) for r in rows]
        async with self.conn.transaction():
            await self.conn.copy_records_to_table(TABLE_NAME, records=records, columns=COLUMNS)

    async def get(self, ids: list[int]) -> list[Any]:
        statement = await self.conn.prepare(GET)
        return [await statement.fetchrow(i) for i in ids]

    async def page(self, numbers: list[int], per_page: int, pattern: str) -> list[PageResult]:
        statement = await self.conn.prepare(PAGE)
        out = []
        for number in numbers:
            rows = await statement.fetch(pattern, per_page, (number - 1) * per_page)
            out.append((rows, rows[0]["total"] if rows else 0))
        return out

    async def upsert(self, rows: list[dict[str, Any]]) -> None:
        args = [(r["id"], r["email"], r["name"]) for r in rows]
        async with self.conn.transaction():
            await self.conn.executemany(UPSERT, args)

    async def tx_get(self, ids: list[int]) -> list[Any]:
        out = []
        for i in ids:
            async with self.pool.acquire() as conn, conn.transaction():
                out.append(await conn.fetchrow(GET, i))
        return out

    async def tx_update(self, changes: list[Change]) -> None:
        for i, name in changes:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.fetchrow(GET, i)
                await conn.execute(UPDATE, name, i)

    async def stream(self, batch: int) -> list[Any]:
        out = []
        async with self.conn.transaction():
            async for record in self.conn.cursor(ALL, prefetch=batch):
                out.append(record)
        return out

    def row(self, obj: Any) -> tuple[int, str, str]:
        return (obj["id"], obj["email"], obj["name"])
