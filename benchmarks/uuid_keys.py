"""``python -m benchmarks.uuid_keys``: UUIDv7 against uuid4 primary keys on PostgreSQL.

For each key kind, a fresh table with a UUID primary key gets ``--rows`` rows through
``Repository.create_many`` (COPY), ``--chunk`` rows per standalone call (one transaction
each), with the key made by the column's Python default, as an application makes them.
Reported: rows/s over the whole load, and ``pg_relation_size`` of the primary-key index
and of the table right after. One run; the figures in docs/benchmarks.md come from it.

uuid4 keys land on random leaf pages of the index, which split half-full; v7 keys grow
with time and fill the right-most page, like an integer key.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import String, Uuid, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import sqlops
from sqlops.models import uuid7

from .target import DEFAULT_SERVER_URL, provision


class _Base(DeclarativeBase):
    pass


def _model(name: str, make: Callable[[], uuid.UUID]) -> type[Any]:
    namespace = {
        "__tablename__": f"keys_{name}",
        "__annotations__": {"id": Mapped[uuid.UUID], "n": Mapped[int], "label": Mapped[str]},
        "id": mapped_column(Uuid, primary_key=True, default=make),
        "n": mapped_column(),
        "label": mapped_column(String(30)),
    }
    return type(f"Key_{name}", (_Base,), namespace)


_SIZES = "SELECT pg_relation_size(CAST(:i AS regclass)), pg_relation_size(CAST(:t AS regclass))"
KINDS = {"uuid4": _model("uuid4", uuid.uuid4), "uuid7": _model("uuid7", uuid7)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.uuid_keys", description=__doc__)
    parser.add_argument("--url", default=DEFAULT_SERVER_URL, help="PostgreSQL server")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=10_000, help="rows per create_many call")
    args = parser.parse_args(argv)
    asyncio.run(_run(args.url, args.rows, args.chunk))
    return 0


async def _run(server_url: str, rows: int, chunk: int) -> None:
    async with provision("postgresql", server_url) as target, sqlops.Database(target.url) as db:
        await db.create_all(_Base.metadata)
        print(f"{rows:,} rows, {chunk:,} per create_many call (one transaction each)")
        print(f"{'key':<6} {'rows/s':>10} {'pk index':>10} {'table':>10}")
        for name, model in KINDS.items():
            rate = await _load(db, model, rows, chunk)
            index, table = await _sizes(db, model)
            print(f"{name:<6} {rate:>10,.0f} {_mb(index):>10} {_mb(table):>10}")


async def _load(db: sqlops.Database, model: type[Any], rows: int, chunk: int) -> float:
    repo = sqlops.Repository(model, db)
    start = time.perf_counter()
    for first in range(0, rows, chunk):
        batch = ({"n": n, "label": f"row {n}"} for n in range(first, min(first + chunk, rows)))
        await repo.create_many(batch)
    return rows / (time.perf_counter() - start)


async def _sizes(db: sqlops.Database, model: type[Any]) -> tuple[int, int]:
    table = model.__table__
    index = table.primary_key.name or f"{table.name}_pkey"
    async with db.session() as session:
        found = await session.execute(
            text(_SIZES),
            {"i": index, "t": table.name},
        )
        index_size, table_size = found.one()
    return int(index_size), int(table_size)


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


if __name__ == "__main__":
    raise SystemExit(main())
