"""SQLAlchemy Core: statements on an ``AsyncConnection``, one connection per unit of work."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite

from .implementation import Change, Implementation, PageResult
from .schema import users
from .target import peer_engine


def upsert_statement(backend: str, into: Any = users) -> Any:
    """``INSERT … ON CONFLICT (email) DO UPDATE SET name = excluded.name`` for ``backend``.

    ``into`` is the table (Core) or the mapped class (an ORM-enabled statement). MySQL's
    ``ON DUPLICATE KEY UPDATE`` has no conflict target: it fires on any unique key.
    """
    if backend == "mysql":
        upsert = mysql.insert(into)
        return upsert.on_duplicate_key_update(name=upsert.inserted.name)
    module: Any = postgresql if backend == "postgresql" else sqlite
    stmt = module.insert(into)
    return stmt.on_conflict_do_update(
        index_elements=[users.c.email], set_={"name": stmt.excluded.name}
    )


def page_statement(pattern: str, number: int, per_page: int) -> Any:
    """One page of ``name LIKE pattern`` by id, with ``count(*) OVER ()`` as the total."""
    return (
        select(users, func.count().over().label("total"))
        .where(users.c.name.like(pattern))
        .order_by(users.c.id)
        .limit(per_page)
        .offset((number - 1) * per_page)
    )


def stream_statement(batch: int, what: Any = users) -> Any:
    """Every row by id, fetched ``batch`` rows at a time (``what``: the table or the class)."""
    order = users.c.id if what is users else what.id
    return select(what).order_by(order).execution_options(yield_per=batch)


class CoreImpl(Implementation):
    name = "core"
    notes = {"stream": "conn.stream(select(users)) with yield_per: Row objects"}

    async def open(self) -> None:
        self.engine = peer_engine(self.target)

    async def close(self) -> None:
        await self.engine.dispose()

    async def insert(self, rows: list[dict[str, Any]]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(users), rows)

    async def get(self, ids: list[int]) -> list[Any]:
        out = []
        for i in ids:
            async with self.engine.connect() as conn:
                result = await conn.execute(select(users).where(users.c.id == i))
                out.append(result.first())
        return out

    async def page(self, numbers: list[int], per_page: int, pattern: str) -> list[PageResult]:
        out = []
        for number in numbers:
            async with self.engine.connect() as conn:
                result = await conn.execute(page_statement(pattern, number, per_page))
                rows = list(result.all())
            out.append((rows, rows[0].total if rows else 0))
        return out

    async def upsert(self, rows: list[dict[str, Any]]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(upsert_statement(self.target.backend), rows)

    async def tx_get(self, ids: list[int]) -> list[Any]:
        out = []
        for i in ids:
            async with self.engine.begin() as conn:
                result = await conn.execute(select(users).where(users.c.id == i))
                out.append(result.first())
        return out

    async def tx_update(self, changes: list[Change]) -> None:
        for i, name in changes:
            async with self.engine.begin() as conn:
                (await conn.execute(select(users).where(users.c.id == i))).first()
                await conn.execute(update(users).where(users.c.id == i).values(name=name))

    async def stream(self, batch: int) -> list[Any]:
        out = []
        async with self.engine.connect() as conn:
            result = await conn.stream(stream_statement(batch))
            async for row in result:
                out.append(row)
        return out
