"""Numbers a caller can send that used to escape as driver errors or change data silently.

On a plain ``DeclarativeBase`` (no naming convention), every backend:
- ``id__in`` with 100,000 values answers correctly (asyncpg allows 32,767 parameters;
  long lists are bound as one array there),
- a page, limit or offset no database can take is an ``InvalidValueError`` (MariaDB
  answered a syntax error),
- ``increment`` refuses what the column cannot hold (a fraction for an integer column,
  NaN, infinity, a text column) and changes nothing; a NULL counter counts from 0,
- NaN is refused, not stored as NULL (SQLite) or as NaN on one backend only.
"""

from __future__ import annotations

import decimal
import enum
import math
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Double, Enum, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import sqlops


class Base(DeclarativeBase):
    pass


class Kind(enum.Enum):
    small = "small"
    large = "large"


class Item(Base):
    __tablename__ = "hostile_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    code: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    kind: Mapped[Kind] = mapped_column(Enum(Kind, native_enum=False), default=Kind.small)
    qty: Mapped[int] = mapped_column(default=0)
    maybe: Mapped[int | None] = mapped_column(default=None)
    # Double: on SQLAlchemy 2.0 a bare Mapped[float] is MariaDB's 4-byte FLOAT (see
    # docs/reliability.md); exactness of that type is the model's choice, not sqlops'.
    price: Mapped[float] = mapped_column(Double, default=0.0)
    amount: Mapped[decimal.Decimal] = mapped_column(Numeric(12, 2), default=decimal.Decimal(0))


@pytest.fixture
async def items(url: Any) -> AsyncIterator[sqlops.Repository[Item]]:
    async with sqlops.Database(url) as db:
        await db.drop_all(Base.metadata)
        await db.create_all(Base.metadata)
        repo = sqlops.Repository(Item, db)
        await repo.create_many([{"name": f"i{n}", "qty": n} for n in range(5)])
        try:
            yield repo
        finally:
            await db.drop_all(Base.metadata)


async def _snapshot(items: sqlops.Repository[Item]) -> list[tuple[Any, ...]]:
    rows = await items.list(order_by="id")
    return [(r.id, r.name, r.qty, r.maybe, r.price, r.amount) for r in rows]


async def test_in_with_a_hundred_thousand_values(items: sqlops.Repository[Item]) -> None:
    ids = range(100_000)
    assert await items.count(id__in=ids) == 5
    assert await items.count(id__not_in=ids) == 0
    assert [i.qty for i in await items.list(id__in=list(ids), order_by="id")] == [0, 1, 2, 3, 4]
    assert (await items.page(id__in=ids, per_page=2)).total == 5
    first = await items.first(id__in=list(ids), order_by="-id")
    assert first is not None and first.qty == 4
    async with items.db.transaction() as s:  # type: ignore[union-attr]
        injected = sqlops.Repository(Item, s)
        assert await injected.count(id__in=ids) == 5
        assert await injected.update_where(values={"maybe": 1}, id__in=ids) == 5


async def test_long_in_lists_of_other_types(items: sqlops.Repository[Item]) -> None:
    rows = await items.list(order_by="id")
    names = [f"nobody{n}" for n in range(5000)] + [rows[0].name]
    assert await items.count(name__in=names) == 1
    codes = [uuid.uuid4() for _ in range(5000)] + [rows[1].code]
    assert await items.count(code__in=codes) == 1
    kinds = ["large"] * 3000 + ["small"]
    assert await items.count(kind__in=kinds) == 5
    assert await items.count(kind__not_in=["large"] * 3000) == 5


@pytest.mark.parametrize(
    ("call", "names"),
    [
        (lambda r: r.page(page=10**18), "page"),
        (lambda r: r.page(page=2, per_page=2**63), "per_page"),
        (lambda r: r.list(limit=10**30), "limit"),
        (lambda r: r.list(offset=2**64), "offset"),
        (lambda r: r.cursor_page(limit=2**63 - 1), "limit"),
    ],
)
async def test_row_counts_no_database_takes(
    items: sqlops.Repository[Item], call: Any, names: str
) -> None:
    with pytest.raises(sqlops.InvalidValueError, match=rf"^{names} is too large"):
        await call(items)
    assert len(await items.list(limit=2**63 - 1, offset=2)) == 3  # the largest that works


@pytest.mark.parametrize(
    ("column", "by", "message"),
    [
        ("qty", 0.5, "integer column cannot be incremented by a fraction"),
        ("qty", decimal.Decimal("1.5"), "by a fraction"),
        ("qty", math.nan, "NaN or infinity"),
        ("price", math.inf, "NaN or infinity"),
        ("amount", decimal.Decimal("NaN"), "NaN or infinity"),
        ("amount", 0.125, "keeps 2 decimal places"),
        ("amount", 10**10, r"out of range for NUMERIC\(12, 2\)"),
        ("name", 1, "not a number column"),
        ("qty", "1", "must be a number"),
        ("qty", True, "must be a number"),
    ],
)
async def test_increment_refuses_what_the_column_cannot_hold(
    items: sqlops.Repository[Item], column: str, by: Any, message: str
) -> None:
    before = await _snapshot(items)
    first = before[0][0]
    with pytest.raises(sqlops.InvalidValueError, match=message) as caught:
        await items.increment(first, column, by)
    assert (caught.value.table, caught.value.column) == ("hostile_items", column)
    assert await _snapshot(items) == before


async def test_increment_counts_a_null_counter_from_zero(items: sqlops.Repository[Item]) -> None:
    first = (await items.list(order_by="id"))[0]
    assert first.maybe is None
    assert await items.increment(first.id, "maybe") == 1
    assert await items.increment(first.id, "maybe", 2.0) == 3  # a whole float is fine
    assert (await items.get_one(first.id)).maybe == 3
    with pytest.raises(sqlops.NotFoundError):
        await items.increment(10**6, "maybe")


async def test_increment_by_decimal_on_a_numeric_column(items: sqlops.Repository[Item]) -> None:
    first = (await items.list(order_by="id"))[0]
    assert await items.increment(first.id, "amount", decimal.Decimal("1.25")) == decimal.Decimal(
        "1.25"
    )
    assert await items.increment(first.id, "price", 1) == 1.0


@pytest.mark.parametrize("nan", [math.nan, decimal.Decimal("NaN"), decimal.Decimal("sNaN")])
@pytest.mark.parametrize("column", ["price", "amount"])
async def test_nan_is_refused_not_stored_as_null(
    items: sqlops.Repository[Item], column: str, nan: Any
) -> None:
    before = await _snapshot(items)
    with pytest.raises(sqlops.InvalidValueError, match="NaN cannot be stored") as caught:
        await items.create(name="nan", **{column: nan})
    assert caught.value.column == column
    with pytest.raises(sqlops.InvalidValueError, match="NaN cannot be stored"):
        await items.update(before[0][0], **{column: nan})
    with pytest.raises(sqlops.InvalidValueError):
        await items.create_many([{"name": "ok"}, {"name": "nan", column: nan}])
    assert await _snapshot(items) == before


async def test_a_number_too_large_for_numeric_is_refused_on_every_backend(
    items: sqlops.Repository[Item],
) -> None:
    """PostgreSQL and MariaDB refuse it; SQLite would keep a float, losing digits."""
    before = await _snapshot(items)
    for big in (10**10, decimal.Decimal("-1E+17"), 1e10):
        with pytest.raises(sqlops.InvalidValueError, match="out of range") as caught:
            await items.create(name="big", amount=big)
        assert caught.value.column == "amount"
    assert await _snapshot(items) == before
    edge = await items.create(name="edge", amount=decimal.Decimal("9999999999.99"))
    assert (await items.get_one(edge.id)).amount == decimal.Decimal("9999999999.99")


NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True, places=2),
    st.booleans(),
    st.text(max_size=3),
)


@settings(
    max_examples=int(os.environ.get("SQLOPS_HYPOTHESIS_EXAMPLES", 40)),  # a deep run: more
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(by=NUMBERS, column=st.sampled_from(["qty", "price", "amount"]))
async def test_increment_by_anything_adds_exactly_or_refuses(
    items: sqlops.Repository[Item], by: Any, column: str
) -> None:
    """Whatever ``by`` is, the counter moves by exactly ``by`` or nothing changes."""
    first = (await items.list(order_by="id"))[0]
    before = await _snapshot(items)
    old = getattr(first, column)
    try:
        new = await items.increment(first.id, column, by)
    except sqlops.SqlopsError:
        assert await _snapshot(items) == before
        return
    assert not isinstance(by, bool | str)
    if column == "qty":
        assert new == old + int(by)
    elif column == "price":
        assert new == pytest.approx(old + float(by))
    else:  # NUMERIC(12, 2): exact, since an increment with more places is refused
        assert new == old + decimal.Decimal(repr(by) if isinstance(by, float) else by)
    await items.update(first.id, **{column: old})  # the next example starts alike
