"""A quick look at the sync twin's overhead: sync.Repository vs the raw driver, one thread.

``python -m benchmarks.sync_twin [URL]`` (default: a temporary SQLite file). Per op: the
median time of ``ROUNDS`` rounds of ``N`` calls, sqlops.sync and the raw DBAPI driver on
one connection with the same SQL, and the ratio. Not the peer benchmark: a smoke figure.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from sqlops import sync

N = 2000
ROUNDS = 5


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "bench_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    qty: Mapped[int] = mapped_column(default=0)


def _median(fn: Callable[[int], Any]) -> float:
    times = []
    for r in range(ROUNDS):
        start = time.perf_counter()
        for i in range(N):
            fn(r * N + i)
        times.append((time.perf_counter() - start) / N)
    return statistics.median(times)


def _raw(db: sync.Database) -> tuple[Any, str]:
    fairy = db.engine.raw_connection()
    raw = fairy.driver_connection
    mark = "?" if db.dialect == "sqlite" else "%s"
    if db.dialect == "sqlite":
        raw.isolation_level = None
    return raw, mark


def main(url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = sync.Database(url or f"sqlite:///{tmp}/bench.db")
        db.drop_all(Base.metadata)
        db.create_all(Base.metadata)
        items = sync.Repository(Item, db)
        raw, mark = _raw(db)
        cursor = raw.cursor()
        insert = f"INSERT INTO bench_items (name, qty) VALUES ({mark}, {mark})"
        select = f"SELECT id, name, qty FROM bench_items WHERE id = {mark}"

        def raw_insert(i: int) -> None:
            cursor.execute("BEGIN")
            cursor.execute(insert, (f"n{i}", i))
            cursor.execute("COMMIT")

        def raw_get(i: int) -> None:
            cursor.execute(select, (i % (N * ROUNDS) + 1,))
            cursor.fetchone()
            if db.dialect != "sqlite":
                raw.commit()

        def orm_insert(i: int) -> None:
            with Session(db.engine, expire_on_commit=False) as session:
                session.add(Item(name=f"n{i}", qty=i))
                session.commit()

        def orm_get(i: int) -> None:
            with Session(db.engine) as session:
                session.get(Item, i % (N * ROUNDS) + 1)

        figures = {
            "insert": (
                _median(lambda i: items.create(name=f"n{i}", qty=i)),
                _median(orm_insert),
                _median(raw_insert),
            ),
            "get": (
                _median(lambda i: items.get(i % (N * ROUNDS) + 1)),
                _median(orm_get),
                _median(raw_get),
            ),
        }
        print(f"{db!r}, {N} calls x {ROUNDS} rounds, median per call")
        for op, (ours, orm, theirs) in figures.items():
            print(
                f"{op:>7}: sqlops.sync {ours * 1e6:7.1f} µs  SQLAlchemy ORM {orm * 1e6:7.1f} µs  "
                f"raw driver {theirs * 1e6:7.1f} µs  (sync/raw x{ours / theirs:.2f})"
            )
        cursor.close()
        db.drop_all(Base.metadata)
        db.dispose()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
