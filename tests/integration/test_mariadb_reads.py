"""MariaDB reads take the driver template route, in one round trip, for any model shape.

Round trips are counted by the server itself (``SHOW SESSION STATUS`` on the one pooled
connection, ``pool_size=1``): ``Questions`` counts every statement a client sent,
``Com_admin_commands`` every COM_PING, ``Com_rollback`` / ``Com_set_option`` the ROLLBACK
and ``SET autocommit`` a read could cost.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import JSON, Enum, ForeignKey, Numeric, String, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedAsDataclass, mapped_column
from sqlalchemy.util import greenlet_spawn

import sqlops
from sqlops import _autocommit, _executor, _templates
from sqlops.models import SoftDelete

pytestmark = pytest.mark.parametrize("backend", [pytest.param("mysql", marks=pytest.mark.mysql)])


class Plain(DeclarativeBase):
    pass


class Mood(enum.Enum):
    calm = "calm"
    loud = "loud"


class Order(Plain):  # reserved words for the table and its columns
    __tablename__ = "order"
    id: Mapped[int] = mapped_column(primary_key=True)
    select: Mapped[str] = mapped_column(String(40))
    price: Mapped[decimal.Decimal] = mapped_column(Numeric(10, 2))
    at: Mapped[dt.datetime]
    mood: Mapped[Mood] = mapped_column(Enum(Mood))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class Line(Plain):  # a composite primary key
    __tablename__ = "lines"
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id"), primary_key=True)
    number: Mapped[int] = mapped_column(primary_key=True)
    select: Mapped[str] = mapped_column(String(40))


class Gone(SoftDelete, Plain):
    __tablename__ = "gone"
    id: Mapped[int] = mapped_column(primary_key=True)
    select: Mapped[str] = mapped_column(String(40))


class Dataclassy(MappedAsDataclass, DeclarativeBase):
    pass


class Token(Dataclassy):  # a dataclass mapping with a UUID key
    __tablename__ = "tokens"
    select: Mapped[str] = mapped_column(String(40))
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default_factory=uuid.uuid4)


ROWS: dict[type[Any], list[dict[str, Any]]] = {
    Order: [
        {
            "id": i,
            "select": f"s{i}",
            "price": decimal.Decimal(f"{i}.25"),
            "at": dt.datetime(2026, 1, i, 12, 30),
            "mood": Mood.loud if i % 2 else Mood.calm,
            "data": {"i": i, "tags": ["a", "%"]},
        }
        for i in range(1, 6)
    ],
    Line: [{"order_id": 1, "number": n, "select": f"s{n}"} for n in range(1, 6)],
    Gone: [{"id": i, "select": f"s{i}"} for i in range(1, 6)],
    Token: [{"id": uuid.UUID(int=i), "select": f"s{i}"} for i in range(1, 6)],
}
MODELS = list(ROWS)


@pytest.fixture
async def db(url: Any) -> AsyncIterator[sqlops.Database]:
    if "aiomysql" in str(url):
        pytest.skip("the template route and its autocommit reads are asyncmy's and PyMySQL's")
    database = sqlops.Database(url, pool_size=1, max_overflow=0)
    for base in (Plain, Dataclassy):
        await database.drop_all(base.metadata)
        await database.create_all(base.metadata)
    await sqlops.Repository(Order, database).create_many(ROWS[Order])
    for model in MODELS[1:]:
        await sqlops.Repository(model, database).create_many(ROWS[model])
    await sqlops.Repository(Gone, database).soft_delete(5)
    try:
        yield database
    finally:
        for base in (Dataclassy, Plain):
            await database.drop_all(base.metadata)
        await database.dispose()


COUNTERS = ("Questions", "Com_admin_commands", "Com_rollback", "Com_set_option", "Com_select")


async def _status(db: sqlops.Database) -> dict[str, int]:
    """The pooled connection's own counters, read the way a standalone read borrows it."""
    if not isinstance(db.engine, AsyncEngine):  # the sync twin (tests/sync): PyMySQL
        return _sync_status(db.engine.sync_engine)
    with _autocommit.checkout_for_read():
        fairy = await db.engine.raw_connection()
    try:
        cursor = fairy.driver_connection.cursor()
        await cursor.execute("SHOW SESSION STATUS")
        found = dict(await cursor.fetchall())
        await cursor.close()
    finally:
        await greenlet_spawn(_autocommit.release, fairy)
    return {name: int(found[name]) for name in COUNTERS}


def _sync_status(engine: Engine) -> dict[str, int]:
    with _autocommit.checkout_for_read():
        fairy = engine.raw_connection()
    try:
        cursor = fairy.driver_connection.cursor()
        cursor.execute("SHOW SESSION STATUS")
        found = dict(cursor.fetchall())
        cursor.close()
    finally:
        _autocommit.release(fairy)
    return {name: int(found[name]) for name in COUNTERS}


def _key(model: type[Any]) -> Any:
    return (ROWS[model][1]["order_id"], 2) if model is Line else ROWS[model][1]["id"]


def _templated(db: sqlops.Database, kind: str, model: type[Any]) -> bool:
    cache = _templates._templates.get(db.engine.sync_engine.dialect, {})
    return any(key[:2] == (kind, model) for key in cache)


async def _costs(db: sqlops.Database, call: Any) -> tuple[Any, dict[str, int]]:
    before = await _status(db)
    result = await call()
    after = await _status(db)
    return result, {name: after[name] - before[name] for name in COUNTERS}


ONE_STATEMENT = {
    "Questions": 2,
    "Com_admin_commands": 0,
    "Com_rollback": 0,
    "Com_set_option": 0,
    "Com_select": 1,
}  # fmt: skip  (+1: the second SHOW)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
async def test_standalone_reads_are_one_statement_on_the_template_route(
    db: sqlops.Database, model: type[Any]
) -> None:
    repo = sqlops.Repository(model, db)
    await repo.get(_key(model))  # the first read on the connection turns autocommit on
    calls = {
        "get": lambda: repo.get(_key(model)),
        "page": lambda: repo.page(select__like="s%", order_by="select", per_page=2),
        "count": lambda: repo.count(select__startswith="s"),
    }
    for kind, call in calls.items():
        result, costs = await _costs(db, call)
        assert costs == ONE_STATEMENT, f"{kind}: {costs}"
        assert _templated(db, kind, model), f"{kind} did not run as a template"
        if kind == "get":
            expected = dict(ROWS[model][1])
            assert {k: getattr(result, k) for k in expected} == expected
    live = 4 if model is Gone else 5  # soft-deleted rows stay out
    assert await repo.count() == live
    page = await repo.page(order_by="select", per_page=2)
    assert (page.total, [o.select for o in page.items]) == (live, ["s1", "s2"])


async def test_values_come_back_typed_as_on_the_orm_route(db: sqlops.Database) -> None:
    orders = sqlops.Repository(Order, db)
    columns = ("id", "select", "price", "at", "mood", "data")

    async def values() -> list[tuple[Any, ...]]:
        found = await orders.list(order_by="id", price__ge=decimal.Decimal("2"))
        return [tuple(getattr(o, c) for c in columns) for o in found]

    fast = await values()
    assert _templated(db, "list", Order)
    _executor.forced_route = "orm"
    try:
        slow = await values()
    finally:
        _executor.forced_route = None
    assert fast == slow == [tuple(r[c] for c in columns) for r in ROWS[Order][1:]]
    assert isinstance(fast[0][2], decimal.Decimal) and isinstance(fast[0][4], Mood)


async def test_a_transaction_after_reads_is_not_in_autocommit(db: sqlops.Database) -> None:
    """The one pooled connection served reads in autocommit; a transaction turns it off."""
    gone = sqlops.Repository(Gone, db)
    await gone.get(1)
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            assert (await session.execute(text("SELECT @@autocommit"))).scalar() == 0
            await sqlops.Repository(Gone, session).update(1, select="changed")
            raise RuntimeError("roll it back")
    assert (await gone.get_one(1)).select == "s1"  # rolled back: it was a transaction
    async with db.session() as session:  # an injected read, in the session's transaction
        assert (await sqlops.Repository(Gone, session).get_one(1)).select == "s1"
        assert (await session.execute(text("SELECT @@autocommit"))).scalar() == 0


async def test_a_write_after_reads_costs_one_switch_and_reads_after_it_one(
    db: sqlops.Database,
) -> None:
    tokens = sqlops.Repository(Token, db)
    await tokens.get(uuid.UUID(int=1))
    _, write = await _costs(db, lambda: tokens.create(select="new"))
    assert write["Com_set_option"] == 1  # autocommit off again before the INSERT
    _, read = await _costs(db, lambda: tokens.get(uuid.UUID(int=2)))
    assert read["Com_set_option"] == 1  # and on again for the next read
    _, again = await _costs(db, lambda: tokens.get(uuid.UUID(int=3)))
    assert again == ONE_STATEMENT


async def test_an_engine_wide_autocommit_is_left_alone(url: Any) -> None:
    """Only what a read switched is switched back: the application's own AUTOCOMMIT stays."""
    db = sqlops.Database(url, pool_size=1, engine_options={"isolation_level": "AUTOCOMMIT"})
    try:
        await db.drop_all(Plain.metadata)
        await db.create_all(Plain.metadata)
        await sqlops.Repository(Gone, db).create(id=1, select="a")
        assert await sqlops.Repository(Gone, db).get(1) is not None
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT @@autocommit"))).scalar() == 1
    finally:
        await db.drop_all(Plain.metadata)
        await db.dispose()
