"""Raw asyncmy: the reference on MariaDB (one connection, autocommit, plain cursors).

Each call is a cursor ``execute`` with parameters, interpolated client-side (what MySQL
drivers do by default, and what SQLAlchemy's asyncmy dialect does too; no server-side
prepared statements);
``executemany`` of an INSERT is rewritten into multi-row ``VALUES`` batches, the fastest
bulk write the protocol has short of ``LOAD DATA``. Transactions are an explicit
``BEGIN`` / ``COMMIT`` on the same connection.
"""

from __future__ import annotations

from typing import Any

import asyncmy
from asyncmy.cursors import SSCursor

from .implementation import Change, Implementation, PageResult
from .schema import TABLE_NAME

INSERT = f"INSERT INTO {TABLE_NAME} (id, email, name) VALUES (%s, %s, %s)"
GET = f"SELECT id, email, name FROM {TABLE_NAME} WHERE id = %s"
PAGE = (
    f"SELECT id, email, name, count(*) OVER () AS total FROM {TABLE_NAME} "
    "WHERE name LIKE %s ORDER BY id LIMIT %s OFFSET %s"
)
UPSERT = INSERT + " ON DUPLICATE KEY UPDATE name = VALUES(name)"
UPDATE = f"UPDATE {TABLE_NAME} SET name = %s WHERE id = %s"
ALL = f"SELECT id, email, name FROM {TABLE_NAME} ORDER BY id"


class AsyncmyImpl(Implementation):
    name = "asyncmy"
    backends = ("mysql",)
    raw = True
    notes = {
        "upsert": "ON DUPLICATE KEY UPDATE fires on any unique key (id or email), not only "
        "email; the rows carry matching ids, so the outcome is the same",
        "stream": "an unbuffered cursor (SSCursor) read with fetchmany(batch): tuples",
    }

    async def open(self) -> None:
        self.conn: Any = await asyncmy.connect(**self.target.mysql_options, autocommit=True)

    async def close(self) -> None:
        await self.conn.ensure_closed()

    async def _write(self, sql: str, rows: list[dict[str, Any]]) -> None:
        args = [(r["id"], r["email"], r["name"]) for r in rows]
        await self.conn.begin()
        try:
            async with self.conn.cursor() as cursor:
                await cursor.executemany(sql, args)
        except BaseException:
            await self.conn.rollback()
            raise
        await self.conn.commit()

    async def insert(self, rows: list[dict[str, Any]]) -> None:
        await self._write(INSERT, rows)

    async def get(self, ids: list[int]) -> list[Any]:
        out = []
        async with self.conn.cursor() as cursor:
            for i in ids:
                await cursor.execute(GET, (i,))
                out.append(await cursor.fetchone())
        return out

    async def page(self, numbers: list[int], per_page: int, pattern: str) -> list[PageResult]:
        out = []
        async with self.conn.cursor() as cursor:
            for number in numbers:
                await cursor.execute(PAGE, (pattern, per_page, (number - 1) * per_page))
                rows = list(await cursor.fetchall())
                out.append((rows, rows[0][3] if rows else 0))
        return out

    async def upsert(self, rows: list[dict[str, Any]]) -> None:
        await self._write(UPSERT, rows)

    async def tx_get(self, ids: list[int]) -> list[Any]:
        out = []
        async with self.conn.cursor() as cursor:
            for i in ids:
                await self.conn.begin()
                await cursor.execute(GET, (i,))
                out.append(await cursor.fetchone())
                await self.conn.commit()
        return out

    async def tx_update(self, changes: list[Change]) -> None:
        async with self.conn.cursor() as cursor:
            for i, name in changes:
                await self.conn.begin()
                await cursor.execute(GET, (i,))
                await cursor.fetchone()
                await cursor.execute(UPDATE, (name, i))
                await self.conn.commit()

    async def stream(self, batch: int) -> list[Any]:
        out: list[Any] = []
        async with self.conn.cursor(SSCursor) as cursor:
            await cursor.execute(ALL)
            while rows := await cursor.fetchmany(batch):
                out.extend(rows)
        return out

    def row(self, obj: Any) -> tuple[int, str, str]:
        return (obj[0], obj[1], obj[2])
