"""Repository.update_many: per-row values, one UPDATE per chunk, on every backend.

Models on a plain ``DeclarativeBase`` (no naming convention): an integer key with an Enum
and ``Timestamps``, a composite string key, soft delete, and reserved words as names.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    Column,
    DateTime,
    Enum,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    TypeDecorator,
    event,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, CIDR, INET, JSONB, MACADDR
from sqlalchemy.engine import URL
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import sqlops
from sqlops import _bulk_update
from sqlops.models import Timestamps


class Base(DeclarativeBase):
    pass


class Status(enum.Enum):
    new = "new"
    done = "done"


class Item(Timestamps, Base):
    __tablename__ = "um_items"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    qty: Mapped[int] = mapped_column(default=0)
    price: Mapped[decimal.Decimal | None] = mapped_column(Numeric(10, 2), default=None)
    status: Mapped[Status] = mapped_column(Enum(Status), default=Status.new)
    note: Mapped[str | None] = mapped_column(String(20), default=None)


class Stock(Base):
    __tablename__ = "um_stock"
    warehouse: Mapped[str] = mapped_column(String(10), primary_key=True)
    sku: Mapped[str] = mapped_column(String(10), primary_key=True)
    qty: Mapped[int] = mapped_column(default=0)


class Order(Base):  # reserved words for the table and its columns
    __tablename__ = "order"
    __sqlops_soft_delete__ = "deleted_at"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    select: Mapped[str] = mapped_column("select", String(20))
    group: Mapped[int] = mapped_column("group", default=0)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)


@pytest.fixture
async def db(url: URL | str) -> AsyncIterator[sqlops.Database]:
    database = sqlops.Database(url)
    await database.drop_all(Base.metadata)
    await database.create_all(Base.metadata)
    await sqlops.Repository(Item, database).create_many(
        {"id": i, "name": f"item {i}", "qty": i} for i in range(1, 11)
    )
    try:
        yield database
    finally:
        await database.drop_all(Base.metadata)
        await database.dispose()


@pytest.fixture
def items(db: sqlops.Database) -> sqlops.Repository[Item]:
    return sqlops.Repository(Item, db)


async def table(repo: sqlops.Repository[Any], *columns: str) -> list[tuple[Any, ...]]:
    rows = await repo.list()
    return [tuple(getattr(r, c) for c in columns) for r in rows]


async def test_values_differ_per_row(items: sqlops.Repository[Item]) -> None:
    rows = [{"id": i, "qty": i * 10, "status": "done"} for i in range(1, 6)]
    assert await items.update_many(rows) == 5
    assert await table(items, "id", "qty", "status") == [
        *((i, i * 10, Status.done) for i in range(1, 6)),
        *((i, i, Status.new) for i in range(6, 11)),
    ]


async def test_missing_keys_are_counted_out(items: sqlops.Repository[Item]) -> None:
    rows = [{"id": 1, "qty": 100}, {"id": 404, "qty": 1}, {"id": 2, "qty": 2}]
    assert await items.update_many(rows) == 2  # 404 matched nothing; id 2 kept its value
    assert await items.count(qty=100) == 1
    assert await items.update_many([]) == 0


async def test_one_statement_per_chunk(db: sqlops.Database, items: sqlops.Repository[Item]) -> None:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("UPDATE", "WITH")):
            statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        rows = [{"id": i, "qty": -i} for i in range(1, 11)]
        assert await items.update_many(rows, chunk_size=4) == 10
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    assert len(statements) == 3
    assert await items.count(qty__lt=0) == 10


async def test_rows_may_set_different_columns(
    db: sqlops.Database, items: sqlops.Repository[Item]
) -> None:
    rows: list[dict[str, Any]] = [
        {"id": 1, "qty": 5},
        {"id": 2, "note": "two"},
        {"id": 1, "note": "one"},  # merged with the first row for id 1
        {"id": 3, "qty": 7, "note": "three"},
        {"id": 3, "qty": 8},  # later values win, as one UPDATE after another would
    ]
    assert await items.update_many(rows) == 3
    assert (await table(items, "id", "qty", "note"))[:4] == [
        (1, 5, "one"),
        (2, 2, "two"),
        (3, 8, "three"),
        (4, 4, None),
    ]


async def test_updated_at_moves(items: sqlops.Repository[Item]) -> None:
    before = await items.get_one(1)
    await items.update_many([{"id": 1, "qty": 50}])
    after = await items.get_one(1)
    assert after.updated_at > before.updated_at
    assert after.created_at == before.created_at


async def test_sql_expressions_per_row(db: sqlops.Database, items: sqlops.Repository[Item]) -> None:
    before = await items.get_one(2)
    rows = [
        {"id": 1, "name": func.upper("renamed")},
        {"id": 2, "qty": Item.qty + 100},  # relative to the row's own value
        {"id": 3, "qty": 7},  # plain: the one-statement path
        {"id": 99, "name": func.lower("NOBODY")},  # matches nothing: counted out
    ]
    assert await items.update_many(rows) == 3
    assert await table(items, "id", "name", "qty") == [
        (1, "RENAMED", 1),
        (2, "item 2", 102),
        (3, "item 3", 7),
        *((i, f"item {i}", i) for i in range(4, 11)),
    ]
    assert (await items.get_one(2)).updated_at > before.updated_at
    orders = sqlops.Repository(Order, db)
    await orders.create_many({"id": i, "select": f"s{i}"} for i in (1, 2))
    await orders.soft_delete(2)
    rows = [{"id": i, "select": func.upper(f"new {i}")} for i in (1, 2)]
    assert await orders.update_many(rows) == 1  # the soft-deleted row is left alone
    assert await table(orders, "id", "select") == [(1, "NEW 1")]


async def test_injected_session_sees_sql_expressions_land(db: sqlops.Database) -> None:
    async with db.transaction() as session:
        repo = sqlops.Repository(Item, session)
        one = await repo.get_one(1)
        assert await repo.update_many([{"id": 1, "name": func.upper("renamed")}]) == 1
        await session.refresh(one)
        assert one.name == "RENAMED"
    assert (await sqlops.Repository(Item, db).get_one(1)).name == "RENAMED"


async def test_key_columns(items: sqlops.Repository[Item]) -> None:
    rows = [{"name": "item 3", "qty": 33}, {"name": "item 4", "price": decimal.Decimal("1.50")}]
    assert await items.update_many(rows, key="name") == 2
    three, four = await items.get_one(3), await items.get_one(4)
    assert (three.qty, four.price) == (33, decimal.Decimal("1.50"))
    assert await items.update_many([{"name": "item 5", "id": 500}], key=[Item.name]) == 1
    assert await items.get(500) is not None  # with key=name, the primary key can be set too


async def test_composite_keys(db: sqlops.Database) -> None:
    stock = sqlops.Repository(Stock, db)
    await stock.create_many(
        {"warehouse": w, "sku": s, "qty": 0} for w in ("north", "south") for s in ("a", "b")
    )
    rows = [
        {"warehouse": "north", "sku": "b", "qty": 1},
        {"warehouse": "south", "sku": "a", "qty": 2},
        {"warehouse": "west", "sku": "a", "qty": 3},
    ]
    assert await stock.update_many(rows) == 2
    assert await table(stock, "warehouse", "sku", "qty") == [
        ("north", "a", 0),
        ("north", "b", 1),
        ("south", "a", 2),
        ("south", "b", 0),
    ]


async def test_reserved_words_and_soft_delete(db: sqlops.Database) -> None:
    orders = sqlops.Repository(Order, db)
    await orders.create_many({"id": i, "select": f"s{i}", "group": i} for i in (1, 2, 3))
    await orders.soft_delete(3)
    rows = [{"id": i, "select": f"new {i}", "group": -i} for i in (1, 2, 3)]
    assert await orders.update_many(rows) == 2  # the soft-deleted row is left alone
    assert await table(orders, "id", "select", "group") == [(1, "new 1", -1), (2, "new 2", -2)]
    assert await orders.update_many(rows[2:], with_deleted=True) == 1
    deleted = await orders.get_one(3, with_deleted=True)
    assert (deleted.select, deleted.group) == ("new 3", -3)


async def test_injected_session_sees_its_objects_change(db: sqlops.Database) -> None:
    async with db.transaction() as session:
        repo = sqlops.Repository(Item, session)
        one = await repo.get_one(1)
        assert await repo.update_many([{"id": 1, "qty": 111, "status": Status.done}]) == 1
        assert (one.qty, one.status) == (111, Status.done)  # no stale value, no lazy load
        fresh = await session.scalar(select(Item.qty).where(Item.id == 1))
        assert fresh == 111
    assert (await sqlops.Repository(Item, db).get_one(1)).qty == 111


async def test_injected_session_flushes_pending_rows_first(db: sqlops.Database) -> None:
    async with db.transaction() as session:
        session.add(Item(id=20, name="pending", qty=0))
        repo = sqlops.Repository(Item, session)
        assert await repo.update_many([{"id": 20, "qty": 5}]) == 1
    assert (await sqlops.Repository(Item, db).get_one(20)).qty == 5


async def test_injected_session_rolls_back(db: sqlops.Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await sqlops.Repository(Item, session).update_many([{"id": 1, "qty": 0}])
            raise RuntimeError("roll back")
    assert (await sqlops.Repository(Item, db).get_one(1)).qty == 1


BAD_ROWS = [
    ([{"id": 1, "qty": 1}, {"qty": 2}], "row 1: missing key column"),
    ([{"id": 1}], "row 0: nothing to set besides the key id"),
    ([{"id": 1, "qty": 1}, {"id": 2, "nope": 1}], "row 1: cannot update 'nope': Item has no"),
    ([{"id": 1, "qty": 1.5}], "row 0: um_items.qty: an integer column cannot hold a fraction"),
    ([{"id": 1, "status": "lost"}], "row 0: um_items.status: not one of done, new"),
    ([{"id": 1, "qty": 1}, 42], "row 1: expected a mapping or a Item, got int"),
]


async def test_bad_rows_are_named(items: sqlops.Repository[Item]) -> None:
    for rows, message in BAD_ROWS:
        with pytest.raises(sqlops.InvalidValueError, match=message):
            await items.update_many(rows)
        assert await table(items, "qty") == [(i,) for i in range(1, 11)]  # nothing written


async def test_database_errors_are_typed_and_name_rows(
    items: sqlops.Repository[Item], backend: str
) -> None:
    with pytest.raises(sqlops.UniqueViolation, match=r"^rows? [0-9, -]+: .*um_items") as caught:
        await items.update_many([{"id": 1, "name": "x"}, {"id": 2, "name": "x"}])
    named = "rows 0-1" if backend == "sqlite" else "rows 0, 1"  # SQLite's error has no value
    assert str(caught.value).startswith(named)
    rows = [{"id": i, "name": f"new {i}"} for i in range(1, 6)] + [{"id": 6, "name": "item 9"}]
    with pytest.raises(sqlops.UniqueViolation) as caught:
        await items.update_many(rows)  # row 5 takes the name item 9 still has
    assert str(caught.value).startswith("rows 0-5" if backend == "sqlite" else "row 5: ")
    with pytest.raises(sqlops.NotNullViolation, match=r"row 3: um_items.name is required"):
        await items.update_many(
            [{"id": i, "name": f"n{i}"} for i in range(1, 4)] + [{"id": 4, "name": None}]
        )
    if backend != "sqlite":  # SQLite stores the long string
        with pytest.raises(sqlops.InvalidValueError, match=r"^row 1: "):
            await items.update_many([{"id": 1, "qty": 1}, {"id": 2, "note": "x" * 200}])
    assert await table(items, "name") == [(f"item {i}",) for i in range(1, 11)]


async def test_bad_arguments(items: sqlops.Repository[Item]) -> None:
    with pytest.raises(sqlops.InvalidValueError, match="key 'nope' is not a column of Item"):
        await items.update_many([{"id": 1, "qty": 1}], key="nope")
    with pytest.raises(sqlops.InvalidValueError, match="needs at least one column"):
        await items.update_many([{"id": 1, "qty": 1}], key=[])
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        await items.update_many([{"id": 1, "qty": 1}], chunk_size=-1)


async def test_a_generator_of_many_rows(items: sqlops.Repository[Item]) -> None:
    rows = ({"id": 1 + i % 10, "qty": i} for i in range(2_500))
    assert await items.update_many(rows, chunk_size=1000) == 30  # 10 keys, 3 chunks
    assert await table(items, "qty") == [(2_490 + i,) for i in range(10)]


async def test_case_form_for_old_sqlite(
    db: sqlops.Database, items: sqlops.Repository[Item], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite before 3.33 has no UPDATE … FROM: the CASE form gives the same result."""
    monkeypatch.setattr(_bulk_update, "sqlite_has_update_from", lambda: False)
    rows = [{"id": 1, "qty": 10, "note": "a"}, {"id": 2, "qty": 20}, {"id": 99, "qty": 1}]
    assert await items.update_many(rows) == 2
    assert (await table(items, "qty", "note"))[:3] == [(10, "a"), (20, None), (3, None)]
    stock = sqlops.Repository(Stock, db)
    await stock.create_many([{"warehouse": "n", "sku": "a"}, {"warehouse": "n", "sku": "b"}])
    assert await stock.update_many([{"warehouse": "n", "sku": "b", "qty": 4}]) == 1
    assert await table(stock, "qty") == [(0,), (4,)]


async def test_any_rows_end_as_sequential_updates_would(items: sqlops.Repository[Item]) -> None:
    """Random keys (some missing, some repeated) and column subsets: the table ends as
    one UPDATE per row, in order, would leave it; the count is the distinct keys found."""
    examples: list[list[dict[str, Any]]] = []
    row = st.fixed_dictionaries(
        {"id": st.integers(min_value=1, max_value=14)},
        optional={
            "qty": st.integers(min_value=-(2**31), max_value=2**31 - 1),
            "note": st.one_of(st.none(), st.text(max_size=20).filter(lambda t: "\x00" not in t)),
            "status": st.sampled_from(list(Status)),
        },
    ).filter(lambda r: len(r) > 1)

    @settings(
        max_examples=15,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(st.lists(row, max_size=12), st.integers(min_value=1, max_value=5))
    def collect(rows: list[dict[str, Any]], chunk: int) -> None:
        examples.append([*rows, {"chunk": chunk}])

    collect()
    expected = {
        r.id: {"qty": r.qty, "note": r.note, "status": r.status} for r in await items.list()
    }
    for example in examples:
        *rows, options = example
        changed = await items.update_many(rows, chunk_size=options["chunk"])
        for r in rows:
            if r["id"] in expected:
                expected[r["id"]].update({k: v for k, v in r.items() if k != "id"})
        found = {
            r.id: {"qty": r.qty, "note": r.note, "status": r.status} for r in await items.list()
        }
        assert found == expected, rows
        chunks = [rows[i : i + options["chunk"]] for i in range(0, len(rows), options["chunk"])]
        assert changed == sum(len({r["id"] for r in c if r["id"] in expected}) for c in chunks)


async def test_model_instances_as_rows(items: sqlops.Repository[Item]) -> None:
    rows = [Item(id=1, qty=70), Item(id=2, note="from an instance")]
    assert await items.update_many(rows) == 2
    assert (await table(items, "qty", "note"))[:2] == [(70, None), (2, "from an instance")]


async def test_a_chunk_larger_than_the_parameter_limit(items: sqlops.Repository[Item]) -> None:
    """16,000 distinct keys in one chunk would bind 32,000 parameters: split, not refused."""
    rows = [{"id": i, "qty": -i} for i in range(1, 16_001)]  # ten of them exist
    assert await items.update_many(rows, chunk_size=16_000) == 10
    assert await table(items, "qty") == [(-i,) for i in range(1, 11)]


class Address(TypeDecorator[str]):
    """A user's own type over INET, as applications wrap PostgreSQL types."""

    impl = INET
    cache_ok = True


PG_KINDS: dict[str, tuple[Any, Any]] = {
    "native enum": (Enum(Status, name="um_kind_status"), Status.done),
    "inet": (INET(), "10.0.0.1"),
    "cidr": (CIDR(), "10.0.0.0/8"),
    "macaddr": (MACADDR(), "08:00:2b:01:02:03"),
    "a TypeDecorator over inet": (Address(), "192.168.0.1"),
    "jsonb": (JSONB(), {"a": [1, 2]}),
    "varchar array": (ARRAY(String(5)), ["ab", "cd"]),
}


@pytest.mark.parametrize("kind", list(PG_KINDS))
async def test_postgresql_column_kinds(backend: str, db: sqlops.Database, kind: str) -> None:
    """A VALUES list of untyped parameters is text on PostgreSQL: these used to be refused
    as "the value's type does not match the column's" (enums on psycopg, INET everywhere)."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL's own column types")
    type_, value = PG_KINDS[kind]
    metadata = MetaData()
    table = Table(
        "um_kinds",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("value", type_, nullable=True),
        Column("n", Integer, default=0),
    )

    class KindBase(DeclarativeBase):
        pass

    model = type("Kind", (KindBase,), {"__table__": table})
    await db.create_all(metadata)
    try:
        repo = sqlops.Repository(model, db)
        await repo.create_many([{"id": 1}, {"id": 2}, {"id": 3}])
        changed = await repo.update_many([{"id": 1, "value": value, "n": 1}, {"id": 2, "n": 2}])
        assert changed == 2
        rows = await repo.list(order_by="id")
        # asyncpg reads network types as ipaddress objects, psycopg as strings or objects
        got = {
            r.id: (str(r.value) if isinstance(value, str) and r.value else r.value, r.n)
            for r in rows
        }
        assert got == {1: (value, 1), 2: (None, 2), 3: (None, 0)}
        # a value PostgreSQL refuses for the type is still typed, and names the column
        if not isinstance(value, (dict, list)):
            with pytest.raises(sqlops.InvalidValueError, match=r"um_kinds\.value"):
                await repo.update_many([{"id": 3, "value": "not-a-" + kind.replace(" ", "-")}])
    finally:
        await db.drop_all(metadata)
