"""A list endpoint: sqlops.fastapi.crud_router against fastcrud's crud_router, same query.

Both apps serve ``GET /items?team=3&page=N&<per page>=20``: rows of one team, 20 per page,
ordered by id, with the total. Requests go through httpx's ASGI transport (no sockets),
one at a time, so the figure is the cost of the endpoint itself: routing, validation,
the query(ies), serialization. Run it once: ``python -m benchmarks.crud_list``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Index, String
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import sqlops
import sqlops.fastapi as sf

ROWS, TEAMS, PER_PAGE = 10_000, 10, 20


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "bench_items"
    __table_args__ = (Index("ix_bench_items_team", "team", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    team: Mapped[int]


class ItemIn(BaseModel):
    name: str
    team: int


class ItemOut(ItemIn):
    model_config = ConfigDict(from_attributes=True)
    id: int


def sqlops_app(db: sqlops.Database) -> FastAPI:
    app = FastAPI()
    sf.install_exception_handlers(app)
    app.include_router(sf.crud_router(Item, read=ItemOut, filters=["team"], prefix="/items", db=db))
    return app


def fastcrud_app(db: sqlops.Database) -> FastAPI:
    from fastcrud import FilterConfig, crud_router

    sessions = async_sessionmaker(db.engine, expire_on_commit=False)

    async def session() -> Any:
        async with sessions() as s:
            yield s

    app = FastAPI()
    router = crud_router(
        session=session,
        model=Item,
        create_schema=ItemIn,
        update_schema=ItemIn,
        select_schema=ItemOut,
        path="/items",
        filter_config=FilterConfig(team=None),
        included_methods=["read_multi"],
    )
    app.include_router(router)
    return app


async def measure(app: FastAPI, params: Callable[[int], dict[str, Any]], seconds: float) -> float:
    """Requests per second over ``seconds``, after a warm-up; checks every answer."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for page in range(1, 21):  # warm-up: caches, pools, compiled statements
            (await client.get("/items", params=params(page))).raise_for_status()
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            response = await client.get("/items", params=params(done % 40 + 1))
            response.raise_for_status()
            done += 1
        return done / (time.perf_counter() - start)


async def main(seconds: float = 5.0, rounds: int = 3) -> None:
    path = os.path.join(tempfile.mkdtemp(), "bench.db")
    db = sqlops.Database(f"sqlite+aiosqlite:///{path}", cursor_secret="bench")
    await db.create_all(Base.metadata)
    await sqlops.Repository(Item, db).create_many(
        {"name": f"item {i}", "team": i % TEAMS} for i in range(ROWS)
    )
    await check_same_answer(db)
    ours = sqlops_app(db)
    theirs = fastcrud_app(db)
    results: dict[str, list[float]] = {"sqlops": [], "fastcrud": []}
    for _ in range(rounds):  # interleaved, so drift in the machine hits both alike
        results["sqlops"].append(
            await measure(ours, lambda n: {"team": 3, "page": n, "per_page": PER_PAGE}, seconds)
        )
        results["fastcrud"].append(
            await measure(
                theirs, lambda n: {"team": 3, "page": n, "itemsPerPage": PER_PAGE}, seconds
            )
        )
    await db.dispose()
    medians = {name: statistics.median(rs) for name, rs in results.items()}
    for name, value in medians.items():
        print(f"{name:9} {value:8.0f} requests/s (median of {rounds} x {seconds:.0f} s)")
    print(f"sqlops / fastcrud: {medians['sqlops'] / medians['fastcrud']:.2f}x")


async def check_same_answer(db: sqlops.Database) -> None:
    """Both endpoints return the same rows and total for the same page."""
    ours = await _get(sqlops_app(db), {"team": 3, "page": 2, "per_page": PER_PAGE})
    theirs = await _get(fastcrud_app(db), {"team": 3, "page": 2, "itemsPerPage": PER_PAGE})
    assert ours["items"] == theirs["data"], "the two endpoints disagree on the rows"
    assert ours["total"] == theirs["total_count"] == ROWS // TEAMS


async def _get(app: FastAPI, params: dict[str, Any]) -> Any:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        response = await client.get("/items", params=params)
        response.raise_for_status()
        return response.json()


if __name__ == "__main__":
    asyncio.run(main())
