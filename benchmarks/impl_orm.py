"""Plain SQLAlchemy ORM: an ``AsyncSession`` per unit of work, as the SQLAlchemy docs show."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from .impl_core import stream_statement, upsert_statement
from .implementation import Change, Implementation, PageResult
from .schema import User
from .target import peer_engine


class OrmImpl(Implementation):
    name = "orm"
    notes = {
        "insert": "unit of work (add_all + commit); ORM bulk insert (session.execute(insert(User), "
        "dicts)) runs at Core's speed",
        "upsert": "the ORM has no upsert of its own; this is the documented ORM-enabled "
        "INSERT … ON CONFLICT via session.execute",
        "tx-update": "session.get, set the attribute, commit (the unit of work flushes an UPDATE)",
        "stream": "session.stream_scalars(select(User)) with yield_per",
    }

    async def open(self) -> None:
        self.engine = peer_engine(self.target)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def close(self) -> None:
        await self.engine.dispose()

    async def insert(self, rows: list[dict[str, Any]]) -> None:
        async with self.sessions() as session:
            session.add_all([User(**row) for row in rows])
            await session.commit()

    async def get(self, ids: list[int]) -> list[Any]:
        out = []
        for i in ids:
            async with self.sessions() as session:
                out.append(await session.get(User, i))
        return out

    async def page(self, numbers: list[int], per_page: int, pattern: str) -> list[PageResult]:
        out = []
        for number in numbers:
            stmt = (
                select(User, func.count().over())
                .where(User.name.like(pattern))
                .order_by(User.id)
                .limit(per_page)
                .offset((number - 1) * per_page)
            )
            async with self.sessions() as session:
                rows = (await session.execute(stmt)).all()
            out.append(([row[0] for row in rows], rows[0][1] if rows else 0))
        return out

    async def upsert(self, rows: list[dict[str, Any]]) -> None:
        async with self.sessions() as session:
            await session.execute(upsert_statement(self.target.backend, User), rows)
            await session.commit()

    async def tx_get(self, ids: list[int]) -> list[Any]:
        out = []
        for i in ids:
            async with self.sessions.begin() as session:
                out.append(await session.get(User, i))
        return out

    async def tx_update(self, changes: list[Change]) -> None:
        for i, name in changes:
            async with self.sessions.begin() as session:
                user = await session.get(User, i)
                assert user is not None
                user.name = name

    async def stream(self, batch: int) -> list[Any]:
        out = []
        async with self.sessions() as session:
            result = await session.stream_scalars(stream_statement(batch, User))
            async for user in result:
                out.append(user)
        return out
