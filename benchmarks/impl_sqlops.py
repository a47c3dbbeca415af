"""sqlops: ``Repository(User, db)`` standalone (each call its own transaction, committed),
and ``Repository(User, session)`` injected (a session per unit of work, like the ORM peers).

A transaction around several calls is what injected mode is for, so ``tx-get`` and
``tx-update`` are measured on ``sqlops-injected`` only.
"""

from __future__ import annotations

from typing import Any

import sqlops

from .implementation import Change, Implementation, PageResult
from .schema import User


class SqlopsImpl(Implementation):
    """Standalone mode: the way most users call it."""

    name = "sqlops"
    skips = frozenset({"tx-get", "tx-update"})
    notes = {
        "tx-get": "a transaction around calls is injected mode: see sqlops-injected",
        "tx-update": "a transaction around calls is injected mode: see sqlops-injected",
    }

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

    async def tx_get(self, ids: list[int]) -> list[Any]:
        raise NotImplementedError("standalone calls are transactions of their own")

    async def tx_update(self, changes: list[Change]) -> None:
        raise NotImplementedError("standalone calls are transactions of their own")

    async def stream(self, batch: int) -> list[Any]:
        return [user async for user in self.users.stream(order_by="id", batch_size=batch)]


class SqlopsInjectedImpl(SqlopsImpl):
    """Injected mode: the caller opens the session or transaction, the repository only flushes."""

    name = "sqlops-injected"
    skips = frozenset()
    notes = {}

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

    async def tx_get(self, ids: list[int]) -> list[Any]:
        out = []
        for i in ids:
            async with self.db.transaction() as session:
                out.append(await sqlops.Repository(User, session).get(i))
        return out

    async def tx_update(self, changes: list[Change]) -> None:
        for i, name in changes:
            async with self.db.transaction() as session:
                users = sqlops.Repository(User, session)
                user = await users.get(i)  # held, as the ORM peer holds it
                await users.update(user.id, name=name)

    async def stream(self, batch: int) -> list[Any]:
        async with self.db.session() as session:
            users = sqlops.Repository(User, session)
            return [user async for user in users.stream(order_by="id", batch_size=batch)]
