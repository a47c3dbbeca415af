"""A list endpoint on Litestar: sqlops' plugin against advanced-alchemy's, same query.

Both apps serve ``GET /items?team=3&page=N&per_page=20``: rows of one team, 20 per page,
ordered by id, with the total — sqlops with ``Repository.page`` on its ``db`` dependency,
advanced-alchemy with ``get_many_and_count`` on its ``db_session``, as their docs show.
Requests go through httpx's ASGI transport, one at a time, with each app's lifespan
running. Run it once: ``python -m benchmarks.litestar_list``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import warnings
from typing import Any

import httpx

import sqlops
import sqlops.litestar as sl

from .crud_list import PER_PAGE, ROWS, TEAMS, Base, Item, ItemOut, measure

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "The declarative_mixin decorator", DeprecationWarning)
    from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig, SQLAlchemyPlugin
    from advanced_alchemy.filters import LimitOffset, OrderBy
    from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from litestar import Litestar, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from sqlalchemy.ext.asyncio import AsyncSession


class ItemRepository(SQLAlchemyAsyncRepository[Item]):
    model_type = Item


def page_body(items: list[Any], total: int) -> dict[str, Any]:
    return {"items": [ItemOut.model_validate(i) for i in items], "total": total}


@get("/items")
async def sqlops_items(
    db: sl.Db, team: FromQuery[int], paging: NamedDependency[sl.PageParams]
) -> dict[str, Any]:
    page = await sqlops.Repository(Item, db).page(
        page=paging.page, per_page=paging.per_page, order_by="id", team=team
    )
    return page_body(page.items, page.total)


@get("/items")
async def aa_items(
    db_session: NamedDependency[AsyncSession],
    team: FromQuery[int],
    page: FromQuery[int] = 1,
    per_page: FromQuery[int] = 20,
) -> dict[str, Any]:
    window = LimitOffset(limit=per_page, offset=(page - 1) * per_page)
    items, total = await ItemRepository(session=db_session).get_many_and_count(
        Item.team == team, window, OrderBy(field_name="id", sort_order="asc")
    )
    return page_body(list(items), total)


def sqlops_app(db: sqlops.Database) -> Litestar:
    paging = sl.page_params(per_page=PER_PAGE, max_per_page=100)
    plugin = sl.SqlopsPlugin(db, dispose=False)
    return Litestar([sqlops_items], plugins=[plugin], dependencies={"paging": paging})


def aa_app(db: sqlops.Database) -> Litestar:
    config = SQLAlchemyAsyncConfig(engine_instance=db.engine, create_all=False)
    return Litestar([aa_items], plugins=[SQLAlchemyPlugin(config=config)])


async def rate(app: Litestar, seconds: float) -> float:
    async with app.lifespan():
        return await measure(app, lambda n: {"team": 3, "page": n, "per_page": PER_PAGE}, seconds)


async def main(seconds: float = 5.0, rounds: int = 3) -> None:
    path = os.path.join(tempfile.mkdtemp(), "bench.db")
    db = sqlops.Database(f"sqlite+aiosqlite:///{path}", cursor_secret="bench")
    await db.create_all(Base.metadata)
    await sqlops.Repository(Item, db).create_many(
        {"name": f"item {i}", "team": i % TEAMS} for i in range(ROWS)
    )
    ours, theirs = sqlops_app(db), aa_app(db)
    assert await _page(ours) == await _page(theirs), "the two endpoints disagree"
    results: dict[str, list[float]] = {"sqlops": [], "advanced-alchemy": []}
    for _ in range(rounds):  # interleaved, so drift in the machine hits both alike
        results["sqlops"].append(await rate(ours, seconds))
        results["advanced-alchemy"].append(await rate(theirs, seconds))
    await db.dispose()
    medians = {name: statistics.median(rs) for name, rs in results.items()}
    for name, value in medians.items():
        print(f"{name:16} {value:8.0f} requests/s (median of {rounds} x {seconds:.0f} s)")
    print(f"sqlops / advanced-alchemy: {medians['sqlops'] / medians['advanced-alchemy']:.2f}x")


async def _page(app: Litestar) -> Any:
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            response = await client.get("/items", params={"team": 3, "page": 2})
            response.raise_for_status()
            body = response.json()
    assert body["total"] == ROWS // TEAMS
    assert len(body["items"]) == PER_PAGE
    return body


if __name__ == "__main__":
    asyncio.run(main())
