"""advanced-alchemy: ``SQLAlchemyAsyncRepository`` on a session per unit of work.

As its docs show: a repository subclass with ``model_type``, ``add_many`` for bulk inserts,
``get_many_and_count`` with ``LimitOffset`` / ``OrderBy`` filters for pages, ``upsert_many``
with ``match_fields`` for upserts; the caller owns the transaction (``auto_commit=True``
on the write calls here, which commits the session the way a request would). The
transaction operations open ``sessionmaker.begin()`` per call, as a request would.
"""

from __future__ import annotations

import warnings
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

with warnings.catch_warnings():
    # advanced-alchemy 1.x still decorates its mixins with declarative_mixin, which
    # SQLAlchemy 2.1 deprecates at import time; not ours to fix, and harmless here.
    warnings.filterwarnings("ignore", "The declarative_mixin decorator", DeprecationWarning)
    from advanced_alchemy.filters import LimitOffset, OrderBy
    from advanced_alchemy.repository import SQLAlchemyAsyncRepository

from .impl_core import stream_statement
from .implementation import Change, Implementation, PageResult
from .schema import User
from .target import peer_engine


class UserRepository(SQLAlchemyAsyncRepository[User]):
    model_type = User


class AdvancedAlchemyImpl(Implementation):
    name = "advanced-alchemy"
    notes = {
        "upsert": "upsert_many also returns every row (RETURNING) and hydrates it: more work "
        "than the others do, but it is the only bulk upsert it offers",
        "tx-update": "repo.get, set the attribute, repo.update(obj) (a merge), commit",
        "stream": "no streaming API: the repository's session.stream_scalars(select(User))",
    }

    async def open(self) -> None:
        self.engine = peer_engine(self.target)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def close(self) -> None:
        await self.engine.dispose()

    async def insert(self, rows: list[dict[str, Any]]) -> None:
        async with self.sessions() as session:
            repo = UserRepository(session=session)
            await repo.add_many([User(**row) for row in rows], auto_commit=True)

    async def get(self, ids: list[int]) -> list[Any]:
        out = []
        for i in ids:
            async with self.sessions() as session:
                out.append(await UserRepository(session=session).get(i))
        return out

    async def page(self, numbers: list[int], per_page: int, pattern: str) -> list[PageResult]:
        out = []
        order = OrderBy(field_name="id", sort_order="asc")
        for number in numbers:
            window = LimitOffset(limit=per_page, offset=(number - 1) * per_page)
            async with self.sessions() as session:
                repo = UserRepository(session=session)
                items, total = await repo.get_many_and_count(User.name.like(pattern), window, order)
            out.append((items, total))
        return out

    async def upsert(self, rows: list[dict[str, Any]]) -> None:
        async with self.sessions() as session:
            repo = UserRepository(session=session)
            data = [User(**row) for row in rows]
            await repo.upsert_many(data, match_fields=["email"], auto_commit=True)

    async def tx_get(self, ids: list[int]) -> list[Any]:
        out = []
        for i in ids:
            async with self.sessions.begin() as session:
                out.append(await UserRepository(session=session).get(i))
        return out

    async def tx_update(self, changes: list[Change]) -> None:
        for i, name in changes:
            async with self.sessions.begin() as session:
                repo = UserRepository(session=session)
                user = await repo.get(i)
                user.name = name
                await repo.update(user)

    async def stream(self, batch: int) -> list[Any]:
        out = []
        async with self.sessions() as session:
            repo = UserRepository(session=session)
            result = await repo.session.stream_scalars(stream_statement(batch, User))
            async for user in result:
                out.append(user)
        return out
