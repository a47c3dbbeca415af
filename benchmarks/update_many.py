"""update_many against per-row updates and the peers' bulk updates, on one table.

Every implementation gives each of ``ROWS`` existing users a different new name, in one
transaction, committed. Per-row ways get ``PER_ROW`` rows (they are slow) and are
reported per 1,000 rows like the rest. Best of ``REPEATS`` runs, fresh values each time.

    python -m benchmarks.update_many [postgresql|mysql|sqlite ...]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastcrud import FastCRUD
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

import sqlops
from sqlops.testing._throwaway import create_database, drop_database

from .schema import Base, User

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "The declarative_mixin decorator", DeprecationWarning)
    from advanced_alchemy.repository import SQLAlchemyAsyncRepository

SERVERS = {
    "postgresql": "postgresql://postgres@127.0.0.1:5432/postgres",
    "mysql": "mysql://root@127.0.0.1:3306/test",
}
ROWS = 10_000
PER_ROW = 1_000
REPEATS = 3


class UserRepository(SQLAlchemyAsyncRepository[User]):
    model_type = User


Run = Callable[[list[dict[str, Any]]], Awaitable[Any]]


def implementations(db: sqlops.Database, sessions: Any) -> dict[str, tuple[Run, int]]:
    crud: Any = FastCRUD(User)

    async def sqlops_update_many(rows: list[dict[str, Any]]) -> None:
        await sqlops.Repository(User, db).update_many(rows)

    async def sqlops_per_row(rows: list[dict[str, Any]]) -> None:
        async with db.transaction() as session:
            repo = sqlops.Repository(User, session)
            for row in rows:
                await repo.update(row["id"], name=row["name"])

    async def sqlalchemy_executemany(rows: list[dict[str, Any]]) -> None:
        async with sessions() as session, session.begin():
            await session.execute(update(User), rows)  # ORM bulk UPDATE by primary key

    async def advanced_alchemy(rows: list[dict[str, Any]]) -> None:
        async with sessions() as session:
            data = [User(id=r["id"], name=r["name"]) for r in rows]
            await UserRepository(session=session).update_many(data, auto_commit=True)

    async def fastcrud_per_row(rows: list[dict[str, Any]]) -> None:
        async with sessions() as session:  # fastcrud has no per-row-values bulk update
            for row in rows:
                await crud.update(session, {"name": row["name"]}, id=row["id"], commit=False)
            await session.commit()

    return {
        "sqlops update_many": (sqlops_update_many, ROWS),
        "SQLAlchemy ORM executemany": (sqlalchemy_executemany, ROWS),
        "advanced-alchemy update_many": (advanced_alchemy, ROWS),
        "sqlops update() per row": (sqlops_per_row, PER_ROW),
        "fastcrud update() per row": (fastcrud_per_row, PER_ROW),
    }


async def measure(backend: str) -> None:
    if backend == "sqlite":
        tmp = tempfile.TemporaryDirectory()
        url: Any = f"sqlite+aiosqlite:///{Path(tmp.name) / 'bench.db'}"
    else:
        url = await create_database(SERVERS[backend])
    db = sqlops.Database(url)
    engine = create_async_engine(db.engine.url)
    try:
        await db.create_all(Base.metadata)
        await sqlops.Repository(User, db).create_many(
            {"id": i, "email": f"u{i}@example.com", "name": f"user {i}"} for i in range(ROWS)
        )
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        print(f"\n{backend}: {ROWS:,} rows (per-row ways: {PER_ROW:,}), best of {REPEATS}")
        for name, (run, count) in implementations(db, sessions).items():
            best = float("inf")
            for repeat in range(REPEATS):
                rows = [{"id": i, "name": f"{name[:8]} {repeat} {i}"} for i in range(count)]
                start = time.perf_counter()
                await run(rows)
                best = min(best, time.perf_counter() - start)
                check = await sqlops.Repository(User, db).get_one(count - 1)
                assert check.name == rows[-1]["name"], (name, check.name)
            print(f"  {name:30} {best * 1000 / count * 1000:9.1f} ms per 1,000 rows")
    finally:
        await engine.dispose()
        await db.dispose()
        if backend != "sqlite":
            await drop_database(url)


def main(argv: list[str]) -> int:
    for backend in argv or ["postgresql", "mysql", "sqlite"]:
        asyncio.run(measure(backend))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
