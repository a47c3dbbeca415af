"""The ``users`` table's state between timed runs: create, reset, seed, read back.

Uses the raw driver (asyncpg / aiosqlite / asyncmy) so that seeding costs no
implementation anything and cannot warm any library's caches.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import aiosqlite
import asyncmy
import asyncpg

from .schema import COLUMNS, TABLE_NAME, Base
from .target import SQLITE_PRAGMAS, Target, peer_engine
from .workload import Row

_SELECT_ALL = f"SELECT id, email, name FROM {TABLE_NAME} ORDER BY id"
_MYSQL_INSERT = f"INSERT INTO {TABLE_NAME} (id, email, name) VALUES (%s, %s, %s)"


class BenchTable:
    """Owns one driver connection to the benchmark database, outside every library."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._pg: Any = None
        self._lite: aiosqlite.Connection | None = None
        self._my: Any = None

    async def open(self) -> None:
        """Create the table (from the SQLAlchemy model) and connect."""
        engine = peer_engine(self.target)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.drop_all)
                await conn.run_sync(Base.metadata.create_all)
        finally:
            await engine.dispose()
        if self.target.backend == "postgresql":
            self._pg = await asyncpg.connect(self.target.dsn)
            # A leaked transaction in an implementation must fail the run, not hang it.
            await self._pg.execute("SET lock_timeout = '20s'")
        elif self.target.backend == "mysql":
            self._my = await asyncmy.connect(**self.target.mysql_options, autocommit=True)
            async with self._my.cursor() as cursor:
                await cursor.execute("SET SESSION lock_wait_timeout = 20")
        else:
            self._lite = await aiosqlite.connect(self.target.path, isolation_level=None)
            for pragma in SQLITE_PRAGMAS:
                await self._lite.execute(pragma)

    async def close(self) -> None:
        if self._pg is not None:
            await self._pg.close()
        if self._my is not None:
            await self._my.ensure_closed()
        if self._lite is not None:
            await self._lite.close()

    async def reset(self, rows: list[Row]) -> None:
        """Empty the table, load ``rows``, and bring statistics up to date."""
        if self._pg is not None:
            await self._pg.execute(f"TRUNCATE {TABLE_NAME}")
            if rows:
                await self._pg.copy_records_to_table(TABLE_NAME, records=rows, columns=COLUMNS)
            # Sets hint bits and the visibility map, so the first reader pays nothing extra.
            await self._pg.execute(f"VACUUM ANALYZE {TABLE_NAME}")
            return
        if self._my is not None:
            await self._mysql_reset(rows)
            return
        lite = self._sqlite()
        await lite.execute("BEGIN IMMEDIATE")
        await lite.execute(f"DELETE FROM {TABLE_NAME}")
        await lite.executemany(f"INSERT INTO {TABLE_NAME} (id, email, name) VALUES (?, ?, ?)", rows)
        await lite.execute("COMMIT")
        await lite.execute(f"ANALYZE {TABLE_NAME}")

    async def _mysql_reset(self, rows: list[Row]) -> None:
        async with self._my.cursor() as cursor:
            await cursor.execute(f"TRUNCATE TABLE {TABLE_NAME}")
            if rows:
                await self._my.begin()
                await cursor.executemany(_MYSQL_INSERT, rows)
                await self._my.commit()
            await cursor.execute(f"ANALYZE TABLE {TABLE_NAME}")
            await cursor.fetchall()

    async def analyze(self) -> None:
        """Refresh planner statistics after a load that bypassed :meth:`reset`."""
        if self._pg is not None:
            await self._pg.execute(f"VACUUM ANALYZE {TABLE_NAME}")
        elif self._my is not None:
            async with self._my.cursor() as cursor:
                await cursor.execute(f"ANALYZE TABLE {TABLE_NAME}")
                await cursor.fetchall()
        else:
            await self._sqlite().execute(f"ANALYZE {TABLE_NAME}")

    async def snapshot(self) -> list[Row]:
        """Every row, ordered by id."""
        if self._pg is not None:
            return [tuple(r) for r in await self._pg.fetch(_SELECT_ALL)]
        if self._my is not None:
            async with self._my.cursor() as cursor:
                await cursor.execute(_SELECT_ALL)
                return [tuple(r) for r in await cursor.fetchall()]
        async with self._sqlite().execute(_SELECT_ALL) as cursor:
            return [tuple(r) for r in await cursor.fetchall()]

    async def server_version(self) -> str:
        if self._pg is not None:
            return str(await self._pg.fetchval("SHOW server_version"))
        if self._my is not None:
            async with self._my.cursor() as cursor:
                await cursor.execute("SELECT version()")
                (version,) = await cursor.fetchone()
                return str(version)
        return f"SQLite {sqlite3.sqlite_version}"

    def _sqlite(self) -> aiosqlite.Connection:
        assert self._lite is not None, "BenchTable.open() was not awaited"
        return self._lite
