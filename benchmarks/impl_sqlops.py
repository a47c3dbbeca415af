"""sqlops: ``Repository(User, db)`` standalone (each call its own transaction, committed),
and ``Repository(User, session)`` injected (a session per unit of work, like the ORM peers).
"""

from __future__ import annotations

from typing import Any

import sqlops

from .implementation import Implementation, PageResult
from .schema import User


class SqlopsImpl(Implementation):
    """Standalone mode: the way most users call it."""

    name = "sqlops"

    async def open(self) -> None:
        self.db = sqlops.Database(self.target.url)
        self.users = sqlops.Repository(User, self.db)

    async def close(self) -> None:
        await self.db.dispose()

    async def insert(self, rows: list[dict[str, Any]]) -> None:
        await self.users.create_many(rows)

    async def get(self, ids: list[int]) -> list[Any]:
        return [await self.users.get(i) for i in ids]

    async def page(self, numbers: list[int], per_page: int, pattern: str) -> list[PageResult]:
        out = []
        for number in numbers:
            page = await self.users.page(
                name__like=pattern, page=number, per_page=per_page, order_by="id"
            )
            out.append((page.items, page.total))
        return out

    async def upsert(self, rows: list[dict[str, Any]]) -> None:
        await self.users.upsert_many(rows, conflict="email")


class SqlopsInjectedImpl(SqlopsImpl):
    """Injected mode: the caller opens the session or transaction, the repository only flushes."""

    name = "sqlops-injected"

    async def insert(self, rows: list[dict[str, Any]]) -> None:
        async with self.db.transaction() as session:
            await sqlops.Repository(User, session).create_many(rows)

    async def get(self, ids: list[int]) -> list[Any]:
        out = []
        for i in ids:
            async with self.db.session() as session:
                out.append(await sqlops.Repository(User, session).get(i))
        return out

    async def page(self, numbers: list[int], per_page: int, pattern: str) -> list[PageResult]:
        out = []
        for number in numbers:
            async with self.db.session() as session:
                page = await sqlops.Repository(User, session).page(
                    name__like=pattern, page=number, per_page=per_page, order_by="id"
                )
            out.append((page.items, page.total))
        return out

    async def upsert(self, rows: list[dict[str, Any]]) -> None:
        async with self.db.transaction() as session:
            await sqlops.Repository(User, session).upsert_many(rows, conflict="email")
