"""Raw aiosqlite: the reference on SQLite (one connection, sqlite3's statement cache).

Reads use ``execute_fetchall``: one hop to aiosqlite's worker thread per statement, where
``async with conn.execute(...) as cursor: await cursor.fetchone()`` takes three.
Transactions are ``BEGIN`` (``BEGIN IMMEDIATE`` for a write) … ``COMMIT`` on the same
connection; SQLite has no server-side cursor, so streaming is ``fetchmany(batch)``.
"""

from __future__ import annotations

from typing import Any

import aiosqlite

from .implementation import Change, Implementation, PageResult
from .schema import TABLE_NAME
from .target import SQLITE_PRAGMAS

INSERT = f"INSERT INTO {TABLE_NAME} (id, email, name) VALUES (?, ?, ?)"
GET = f"SELECT id, email, name FROM {TABLE_NAME} WHERE id = ?"
PAGE = (
    f"SELECT id, email, name, count(*) OVER () AS total FROM {TABLE_NAME} "
    "WHERE name LIKE ? ORDER BY id LIMIT ? OFFSET ?"
)
UPSERT = INSERT + " ON CONFLICT (email) DO UPDATE SET name = excluded.name"
UPDATE = f"UPDATE {TABLE_NAME} SET name = ? WHERE id = ?"
ALL = f"SELECT id, email, name FROM {TABLE_NAME} ORDER BY id"


class AiosqliteImpl(Implementation):
    name = "aiosqlite"
    backends = ("sqlite",)
    raw = True

    async def open(self) -> None:
        self.conn = await aiosqlite.connect(self.target.path, isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            await self.conn.execute(pragma)

    async def close(self) -> None:
        await self.conn.close()

    async def _write(self, sql: str, rows: list[dict[str, Any]]) -> None:
        args = [(r["id"], r["email"], r["name"]) for r in rows]
        await self.conn.execute("BEGIN IMMEDIATE")
        try:
            await self.conn.executemany(sql, args)
        except BaseException:
            await self.conn.execute("ROLLBACK")
            raise
        await self.conn.execute("COMMIT")

    async def insert(self, rows: list[dict[str, Any]]) -> None:
        await self._write(INSERT, rows)

    async def get(self, ids: list[int]) -> list[Any]:
        out = []
        for i in ids:
            rows = await self.conn.execute_fetchall(GET, (i,))
            out.append(next(iter(rows), None))
        return out

    async def page(self, numbers: list[int], per_page: int, pattern: str) -> list[PageResult]:
        out = []
        for number in numbers:
            args = (pattern, per_page, (number - 1) * per_page)
            rows = list(await self.conn.execute_fetchall(PAGE, args))
            out.append((rows, rows[0][3] if rows else 0))
        return out

    async def upsert(self, rows: list[dict[str, Any]]) -> None:
        await self._write(UPSERT, rows)

    async def tx_get(self, ids: list[int]) -> list[Any]:
        out = []
        for i in ids:
            await self.conn.execute("BEGIN")
            rows = await self.conn.execute_fetchall(GET, (i,))
            await self.conn.execute("COMMIT")
            out.append(next(iter(rows), None))
        return out

    async def tx_update(self, changes: list[Change]) -> None:
        for i, name in changes:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                await self.conn.execute_fetchall(GET, (i,))
                await self.conn.execute(UPDATE, (name, i))
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")

    async def stream(self, batch: int) -> list[Any]:
        out: list[Any] = []
        async with self.conn.execute(ALL) as cursor:
            while rows := await cursor.fetchmany(batch):
                out.extend(rows)
        return out

    def row(self, obj: Any) -> tuple[int, str, str]:
        return (obj[0], obj[1], obj[2])
