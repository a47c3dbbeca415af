"""Raw asyncpg: the physical limit on PostgreSQL.

One connection, prepared statements, COPY for the insert: what you would write by hand
with no library at all. Everything else is measured against it.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from .implementation import Implementation, PageResult
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


class AsyncpgImpl(Implementation):
    name = "asyncpg"
    backends = ("postgresql",)
    raw = True
    notes = {"page": "a page past the end would need a second query for the total"}

    async def open(self) -> None:
        self.conn: Any = await asyncpg.connect(self.target.dsn)

    async def close(self) -> None:
        await self.conn.close()

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

    def row(self, obj: Any) -> tuple[int, str, str]:
        return (obj["id"], obj["email"], obj["name"])
