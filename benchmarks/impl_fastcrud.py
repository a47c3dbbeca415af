"""fastcrud: ``FastCRUD(User)`` with Pydantic schemas, a session per unit of work.

fastcrud has no bulk create: ``upsert_multi`` (one INSERT … ON CONFLICT executemany) is its
only multi-row write, so the insert uses it. Its upsert conflicts on the primary key only
(it cannot target ``email``); the rows carry matching ids, so the result is the same.
A page with its total is two statements (``get_multi`` + ``count``). fastcrud has no
streaming API: the stream is the session's own ``stream_scalars``.
"""

from __future__ import annotations

from typing import Any

from fastcrud import FastCRUD
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import async_sessionmaker

from .impl_core import stream_statement
from .implementation import Change, Implementation, PageResult
from .schema import User
from .target import peer_engine


class UserSchema(BaseModel):
    id: int
    email: str
    name: str


class FastCrudImpl(Implementation):
    name = "fastcrud"
    notes = {
        "insert": "no bulk create: upsert_multi (INSERT … ON CONFLICT on the primary key)",
        "page": "two statements: get_multi, then count",
        "upsert": "conflict target is the primary key only, not email",
        "tx-update": "crud.get, then crud.update(session, {name}, id=…, commit=False); "
        "sessionmaker.begin() commits",
        "stream": "no streaming API: session.stream_scalars(select(User)), model instances",
    }

    async def open(self) -> None:
        self.engine = peer_engine(self.target)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.crud: FastCRUD[Any, Any, Any, Any, Any, Any] = FastCRUD(User)

    async def close(self) -> None:
        await self.engine.dispose()

    async def _upsert_multi(self, rows: list[dict[str, Any]]) -> None:
        async with self.sessions() as session:
            data = [UserSchema(**row) for row in rows]
            await self.crud.upsert_multi(session, data, commit=True)

    async def insert(self, rows: list[dict[str, Any]]) -> None:
        await self._upsert_multi(rows)

    async def get(self, ids: list[int]) -> list[Any]:
        out = []
        for i in ids:
            async with self.sessions() as session:
                out.append(await self.crud.get(session, id=i))
        return out

    async def page(self, numbers: list[int], per_page: int, pattern: str) -> list[PageResult]:
        out = []
        for number in numbers:
            async with self.sessions() as session:
                result = await self.crud.get_multi(
                    session,
                    offset=(number - 1) * per_page,
                    limit=per_page,
                    sort_columns="id",
                    name__like=pattern,
                )
            out.append((result["data"], result["total_count"]))
        return out

    async def upsert(self, rows: list[dict[str, Any]]) -> None:
        await self._upsert_multi(rows)

    async def tx_get(self, ids: list[int]) -> list[Any]:
        out = []
        for i in ids:
            async with self.sessions.begin() as session:
                out.append(await self.crud.get(session, id=i))
        return out

    async def tx_update(self, changes: list[Change]) -> None:
        for i, name in changes:
            async with self.sessions.begin() as session:
                await self.crud.get(session, id=i)
                await self.crud.update(session, {"name": name}, id=i, commit=False)

    async def stream(self, batch: int) -> list[Any]:
        out = []
        async with self.sessions() as session:
            result = await session.stream_scalars(stream_statement(batch, User))
            async for user in result:
                out.append(user)
        return out

    def row(self, obj: Any) -> tuple[int, str, str]:
        if isinstance(obj, User):  # stream yields model instances, the rest dicts
            return (obj.id, obj.email, obj.name)
        return (obj["id"], obj["email"], obj["name"])
