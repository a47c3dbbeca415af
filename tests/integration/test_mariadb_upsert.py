"""MariaDB ``upsert_many``: one statement per chunk, a clash on another unique key reported.

ON DUPLICATE KEY UPDATE fires on any unique key; sqlops' guard makes a row that hit
another key than the conflict columns fail the statement, so no SELECT per chunk is
needed to find it. Counted by the server (``SHOW SESSION STATUS``), on one connection.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedAsDataclass, mapped_column

import sqlops

pytestmark = pytest.mark.parametrize("backend", [pytest.param("mysql", marks=pytest.mark.mysql)])


class Plain(DeclarativeBase):
    pass


class Key(Plain):  # reserved words, a unique column besides the key
    __tablename__ = "key"
    id: Mapped[int] = mapped_column(primary_key=True)
    select: Mapped[str] = mapped_column(String(40), unique=True)
    value: Mapped[str] = mapped_column(String(40))


class Dataclassy(MappedAsDataclass, DeclarativeBase):
    pass


class Seat(Dataclassy):  # a UUID key and a composite unique key
    __tablename__ = "seats"
    __table_args__ = (UniqueConstraint("row", "number"),)
    row: Mapped[str] = mapped_column(String(4))
    number: Mapped[int]
    holder: Mapped[str] = mapped_column(String(40))
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default_factory=uuid.uuid4)


@pytest.fixture
async def db(url: Any) -> AsyncIterator[sqlops.Database]:
    database = sqlops.Database(url, pool_size=1, max_overflow=0)
    for base in (Plain, Dataclassy):
        await database.drop_all(base.metadata)
        await database.create_all(base.metadata)
    try:
        yield database
    finally:
        for base in (Plain, Dataclassy):
            await database.drop_all(base.metadata)
        await database.dispose()


async def _selects(db: sqlops.Database) -> int:
    async with db.engine.connect() as conn:
        found = await conn.exec_driver_sql("SHOW SESSION STATUS LIKE 'Com_select'")
        return int(found.one()[1])


async def test_upsert_many_sends_no_select(db: sqlops.Database) -> None:
    keys = sqlops.Repository(Key, db)
    await keys.create_many([{"id": i, "select": f"s{i}", "value": "old"} for i in range(1, 4)])
    rows = [
        {"id": 1, "select": "s1", "value": "old"},  # unchanged
        {"id": 2, "select": "s2", "value": "first"},  # changed twice: the last one wins
        {"id": 2, "select": "s2", "value": "new"},
        {"id": 4, "select": "s4", "value": "new"},  # inserted
    ]
    before = await _selects(db)
    assert await keys.upsert_many(rows) == 3
    assert await _selects(db) == before
    assert {k.id: k.value for k in await keys.list()} == {1: "old", 2: "new", 3: "old", 4: "new"}


async def test_a_clash_on_another_key_undoes_the_chunk_and_names_the_key(
    db: sqlops.Database,
) -> None:
    keys = sqlops.Repository(Key, db)
    await keys.create(id=1, select="taken", value="owner")
    rows = [{"id": 2, "select": "fresh", "value": "v"}, {"id": 3, "select": "taken", "value": "x"}]
    with pytest.raises(sqlops.TransactionAbortedError):  # as a violation on any backend
        async with db.transaction() as session:
            with pytest.raises(sqlops.UniqueViolation) as info:
                await sqlops.Repository(Key, session).upsert_many(rows)
            assert (info.value.table, info.value.columns) == ("key", ("select",))
    assert [(k.id, k.value) for k in await keys.list()] == [(1, "owner")]


async def test_composite_unique_keys_clash_too(db: sqlops.Database) -> None:
    seats = sqlops.Repository(Seat, db)
    owner = await seats.create(row="A", number=1, holder="owner")
    again = [{"id": owner.id, "row": "A", "number": 1, "holder": "renamed"}]
    assert await seats.upsert_many(again) == 1
    intruder = [{"id": uuid.uuid4(), "row": "A", "number": 1, "holder": "intruder"}]
    with pytest.raises(sqlops.UniqueViolation) as info:
        await seats.upsert_many(intruder)
    assert set(info.value.columns) == {"row", "number"}
    assert [(s.id, s.holder) for s in await seats.list()] == [(owner.id, "renamed")]
    by_seat = [{"id": uuid.uuid4(), "row": "A", "number": 1, "holder": "by seat"}]
    assert await seats.upsert_many(by_seat, conflict=["row", "number"]) == 1
    assert (await seats.get_one(owner.id)).holder == "by seat"
