"""stream(): every row once, in order, in both modes, whichever route serves it.

On asyncpg and aiosqlite the stream reads the driver's own cursor (a template, see
``sqlops._executor.stream``); elsewhere, when statements are watched, and on the ORM
route (this module runs over both routes, tests/integration/conftest.py) it reads
``session.stream()``. What a caller sees must not depend on which.
"""

from __future__ import annotations

import asyncio
import contextlib
import decimal
import enum
import gc
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import JSON, Numeric, String, inspect, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedAsDataclass, mapped_column

import sqlops
from sqlops import _executor, _membership, _templates
from sqlops.testing import count_queries
from tests.models import Note, User


class Kind(enum.Enum):
    SMALL = "small"
    LARGE = "large"


class Base(DeclarativeBase):
    """A plain DeclarativeBase, no sqlops mixins: columns whose types process results."""


class Reading(Base):
    __tablename__ = "stream_readings"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    seq: Mapped[int]
    kind: Mapped[Kind]
    amount: Mapped[decimal.Decimal] = mapped_column(Numeric(10, 2))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON)


class DataBase(MappedAsDataclass, DeclarativeBase):
    """Dataclass mapping, composite primary key."""


class Cell(DataBase):
    __tablename__ = "stream_cells"
    row: Mapped[int] = mapped_column(primary_key=True)
    col: Mapped[str] = mapped_column(String(10), primary_key=True)
    value: Mapped[str | None] = mapped_column(String(20), default=None)


@pytest.fixture
def driver_cursor(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each stream that read the driver's cursor (the template route)."""
    used: list[str] = []
    real = _templates.stream_rows

    def spy(template: Any, *args: Any, **kwargs: Any) -> Any:
        used.append(template.sql)
        return real(template, *args, **kwargs)

    monkeypatch.setattr(_templates, "stream_rows", spy)
    return used


def _on_driver_cursor(db: sqlops.Database) -> bool:
    """Whether this backend and route stream from the driver's cursor."""
    return _executor.forced_route is None and db.driver in _templates.STREAM_DRIVERS


async def _seed(db: sqlops.Database, n: int) -> list[int]:
    users = sqlops.Repository(User, db)
    created = await users.create_many(
        [{"email": f"s{i}@x", "name": f"s{i}", "age": i} for i in range(n)], returning=True
    )
    return [u.id for u in created]


@contextlib.asynccontextmanager
async def _mode(db: sqlops.Database, mode: str) -> AsyncIterator[sqlops.Repository[User]]:
    if mode == "standalone":
        yield sqlops.Repository(User, db)
    else:
        async with db.transaction() as session:
            yield sqlops.Repository(User, session)


MODES = pytest.mark.parametrize("mode", ["standalone", "injected"])


@MODES
@pytest.mark.parametrize("batch_size", [1, 2, 3, 6, 7, 1000])
async def test_every_row_once_in_order_at_any_batch_size(
    db: sqlops.Database, driver_cursor: list[str], mode: str, batch_size: int
) -> None:
    ids = await _seed(db, 6)  # 6 rows: batches of 2 and 3 end exactly, 7 and 1000 do not
    async with _mode(db, mode) as users:
        up = [u.id async for u in users.stream(order_by="id", batch_size=batch_size)]
        down = [u.id async for u in users.stream(order_by="-id", batch_size=batch_size)]
    assert up == ids and down == ids[::-1]
    assert len(driver_cursor) == (2 if _on_driver_cursor(db) else 0)


@MODES
async def test_filters_soft_delete_and_an_empty_result(db: sqlops.Database, mode: str) -> None:
    await _seed(db, 5)
    notes = sqlops.Repository(Note, db)
    kept, gone = await notes.create(body="kept"), await notes.create(body="gone")
    await notes.soft_delete(gone.id)
    async with _mode(db, mode) as users:
        names = [u.name async for u in users.stream(order_by="-name", age__ge=2, batch_size=2)]
        assert names == ["s4", "s3", "s2"]
        assert [u async for u in users.stream(name="nobody")] == []
        long_in = [f"s{i}" for i in range(_membership.LONG + 1)]  # one array off the template
        assert len([u async for u in users.stream(name__in=long_in, batch_size=2)]) == 5
        session = users.session
        note_repo = sqlops.Repository(Note, session if session is not None else db)
        assert [n.id async for n in note_repo.stream()] == [kept.id]
        both = [n.id async for n in note_repo.stream(order_by="id", with_deleted=True)]
        assert both == [kept.id, gone.id]


async def test_a_stream_in_the_session_reads_its_own_transaction(db: sqlops.Database) -> None:
    await _seed(db, 2)
    async with db.transaction() as session:
        users = sqlops.Repository(User, session)
        await users.create(email="mine@x", name="mine")  # flushed, not committed
        streamed = [u async for u in users.stream(order_by="id", batch_size=1)]
        assert [u.name for u in streamed] == ["s0", "s1", "mine"]
        assert all(inspect(u).persistent and u in session for u in streamed)
        assert await users.get(streamed[0].id) is streamed[0]


async def test_objects_the_session_holds_come_back_as_themselves(db: sqlops.Database) -> None:
    ids = await _seed(db, 4)
    async with db.session() as session:
        users = sqlops.Repository(User, session)
        held = await users.get_one(ids[2])
        first = [u async for u in users.stream(order_by="id", batch_size=3)]
        again = [u async for u in users.stream(order_by="id", batch_size=2)]
    assert first[2] is held
    assert all(a is b for a, b in zip(first, again, strict=True))


@MODES
async def test_types_with_result_processors_come_back_as_the_orm_loads_them(
    db: sqlops.Database, mode: str
) -> None:
    await db.create_all(Base.metadata)
    await db.create_all(DataBase.metadata)
    try:
        readings = sqlops.Repository(Reading, db)
        await readings.create_many(
            [
                {
                    "seq": i,
                    "kind": Kind.LARGE if i % 2 else Kind.SMALL,
                    "amount": decimal.Decimal(f"{i}.25"),
                    "extra": {"i": i, "tags": ["a", None]},
                }
                for i in range(5)
            ]
        )
        await sqlops.Repository(Cell, db).create_many(
            [{"row": r, "col": c, "value": f"{r}{c}"} for r in range(3) for c in "ab"]
        )
        async with db.session() as orm:
            expected = [_values(r) for r in await orm.scalars(select(Reading).order_by("seq"))]
        async with _bound(db, mode) as bind:
            streamed = [
                r
                async for r in sqlops.Repository(Reading, bind).stream(order_by="seq", batch_size=2)
            ]
            cells = [c async for c in sqlops.Repository(Cell, bind).stream(order_by="-col")]
        assert [_values(r) for r in streamed] == expected
        assert all(type(r.amount) is decimal.Decimal and type(r.kind) is Kind for r in streamed)
        order = [(r, c) for c in "ba" for r in range(3)]  # the primary key breaks ties
        assert [(c.row, c.col) for c in cells] == order
        assert inspect(cells[0]).identity == (cells[0].row, cells[0].col)
    finally:
        await db.drop_all(DataBase.metadata)
        await db.drop_all(Base.metadata)


def _values(r: Reading) -> tuple[Any, ...]:
    return (r.id, r.seq, r.kind, r.amount, r.extra)


@contextlib.asynccontextmanager
async def _bound(db: sqlops.Database, mode: str) -> AsyncIterator[Any]:
    if mode == "standalone":
        yield db
    else:
        async with db.session() as session:
            yield session


@MODES
async def test_stopping_early_gives_the_connection_back_clean(
    url: Any, driver_cursor: list[str], mode: str
) -> None:
    async with sqlops.Database(url, pool_size=1, max_overflow=0) as db:
        await db.create_all(User.metadata)
        await _seed(db, 5)
        async with _mode(db, mode) as users:
            async with contextlib.aclosing(users.stream(order_by="id", batch_size=2)) as rows:
                async for user in rows:
                    assert user.name == "s0"
                    break
            if users.session is not None:  # the transaction goes on
                if _on_driver_cursor(db):  # its cursor closed (session.stream() leaves it)
                    assert await _open_cursors(users.session) == 0
                assert await users.count() == 5
        assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        if db.dialect == "postgresql":
            assert await _idle_in_transaction(db) == 0
        # the one pooled connection serves a whole stream and a write afterwards
        assert len([u async for u in sqlops.Repository(User, db).stream(batch_size=2)]) == 5
        await sqlops.Repository(User, db).create(email="after@x", name="after")
        assert await sqlops.Repository(User, db).count() == 6
        assert len(driver_cursor) == (2 if _on_driver_cursor(db) else 0)
        await db.drop_all(User.metadata)


@MODES
async def test_a_stream_abandoned_without_aclose_disturbs_nothing(url: Any, mode: str) -> None:
    """``break`` out of ``async for`` with no ``aclosing``: the loop's finalizer closes it
    later, in a task of its own, while the caller's next statement may be running on the
    same connection; nothing may fail, there or in the caller."""
    if mode == "injected" and "mysql" in str(url):
        pytest.skip(
            "MariaDB: an unread unbuffered result blocks the session's connection until "
            "drained (the protocol's; SQLAlchemy warns) - docs/guide.md says use aclosing"
        )
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: seen.append(context))
    try:
        async with sqlops.Database(url, pool_size=1, max_overflow=0) as db:
            await db.create_all(User.metadata)
            await _seed(db, 5)
            async with _mode(db, mode) as users:
                for _ in range(3):
                    async for user in users.stream(order_by="id", batch_size=2):
                        assert user.name == "s0"
                        break
                    assert await users.count() == 5  # while the finalizer closes it
                    gc.collect()
                    await asyncio.sleep(0.01)
            assert await sqlops.Repository(User, db).count() == 5
            assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
            await db.drop_all(User.metadata)
    finally:
        loop.set_exception_handler(previous)
    assert [c.get("exception") or c.get("message") for c in seen] == []


async def _open_cursors(session: Any) -> int:
    """Portals and cursors open in this session's transaction (PostgreSQL; else 0)."""
    if session.bind.dialect.name != "postgresql":
        return 0
    found = await session.execute(text("SELECT count(*) FROM pg_cursors WHERE name <> ''"))
    return int(found.scalar_one())


async def _idle_in_transaction(db: sqlops.Database) -> int:
    async with db.engine.connect() as conn:
        found = await conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state IN ('idle in transaction', 'idle in transaction (aborted)') "
            "AND pid <> pg_backend_pid()"
        )
        return int(found.scalar_one())


@MODES
async def test_a_watched_stream_shows_its_statement(
    db: sqlops.Database, driver_cursor: list[str], mode: str
) -> None:
    await _seed(db, 3)
    with count_queries(db) as counter:
        async with _mode(db, mode) as users:
            assert len([u async for u in users.stream(batch_size=2)]) == 3
    assert any("FROM users" in s for s in counter.statements)
    assert driver_cursor == []  # a listener must see the statement: not the driver's cursor
