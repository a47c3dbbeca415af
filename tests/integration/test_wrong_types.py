"""A value of the wrong kind for its column: a typed error naming the column, nothing written.

What a JSON body or a careless caller sends: a dict or a list for a text column, a
string for an integer, a number for a datetime. Each backend's driver (or a column
type's bind processor) refuses such a value in its own way, with its own exception,
at its own stage (SQLAlchemy's bind processing, the driver's encoding, COPY). Every write
path must turn that into :class:`sqlops.InvalidValueError` naming the table and the
column, with a message that quotes no value, and leave the table as it was.

A backend may also store a value of another kind (SQLite and MariaDB turn ``12`` into
``'12'`` for a text column): that is allowed, the point is that nothing escapes untyped.
Values no backend can store (a dict for an integer, an object) must be refused everywhere.
Run on the user's own shape too: a plain ``DeclarativeBase`` with SQLAlchemy's own types.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import String, func
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import sqlops
from tests.models import User


class PlainBase(DeclarativeBase):
    """A user's own base: no naming convention, no sqlops types."""


class Gadget(PlainBase):
    __tablename__ = "wt_gadgets"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(40), unique=True)
    count: Mapped[int] = mapped_column(default=0)
    ratio: Mapped[float] = mapped_column(default=0.0)
    ready: Mapped[bool] = mapped_column(default=False)
    seen: Mapped[dt.datetime | None] = mapped_column(default=None)
    day: Mapped[dt.date | None] = mapped_column(default=None)
    token: Mapped[uuid.UUID | None] = mapped_column(default=None)


class Opaque:
    """Something no driver knows how to send."""


# Values no column of these kinds can hold, on any backend.
NEVER = {
    "dict": {"a": 1},
    "list": [1, 2],
    "object": Opaque(),
    "set": {1},
}
# Values of another kind: refused by some backends, stored by others.
OTHER = {"bytes": b"\xff\xfe", "str": "abc", "int": 12, "date": dt.date(2020, 1, 2)}

USER_COLUMNS = ["name", "age", "score", "created_at"]
GADGET_COLUMNS = ["label", "count", "ratio", "seen", "day", "token"]
OPS = ["create", "update", "create_many", "upsert", "upsert_many", "update_where"]


@pytest.fixture
async def gadgets_db(db: sqlops.Database) -> AsyncIterator[sqlops.Database]:
    """``db`` (async, or the sync twin's) with the plain base's table too."""
    await db.drop_all(PlainBase.metadata)
    await db.create_all(PlainBase.metadata)
    try:
        yield db
    finally:
        await db.drop_all(PlainBase.metadata)


def _rows(model: type[Any], column: str, value: Any, tag: str, n: int = 3) -> list[dict[str, Any]]:
    if column in ("email", "label"):
        n = 1  # the same value twice would be a duplicate key, not the error under test
    if model is User:
        return [{"email": f"{tag}{i}@x", "name": f"n{i}", column: value} for i in range(n)]
    return [{"label": f"{tag}{i}", column: value} for i in range(n)]


async def _attempt(repo: sqlops.Repository[Any], op: str, column: str, value: Any) -> None:
    model = repo.model
    unique = "email" if model is User else "label"
    one = _rows(model, column, value, op, 1)[0]
    if op == "create":
        await repo.create(**one)
    elif op == "create_many":
        await repo.create_many(_rows(model, column, value, op))  # COPY on PostgreSQL
    elif op == "upsert":
        await repo.upsert(one, conflict=unique)
    elif op == "upsert_many":
        await repo.upsert_many(_rows(model, column, value, op), conflict=unique)
    else:
        target = await repo.first(order_by="id")
        assert target is not None
        if op == "update":
            await repo.update(target.id, **{column: value})
        else:
            await repo.update_where(values={column: value}, id=target.id)


async def _check(repo: sqlops.Repository[Any], column: str, value: Any, never: bool) -> None:
    """Every write path in turn; each refusal typed, named, and nothing written."""
    table = repo.info.table.name
    keep = {"email": "keep@x", "name": "keep"} if repo.model is User else {"label": "keep"}
    for op in OPS:
        await repo.delete_where(all=True)  # what an earlier op stored may be a duplicate key
        existing = await repo.create(**keep)
        before = await repo.count()
        refused: sqlops.InvalidValueError | None = None
        try:
            await _attempt(repo, op, column, value)
        except sqlops.InvalidValueError as exc:
            refused = exc
        if refused is None:
            assert not never, f"{op} stored a {type(value).__name__} in {table}.{column}"
            continue
        where = f"{op}: {refused}"
        assert (refused.table, refused.column) == (table, column), where
        assert str(refused).startswith(f"{table}.{column}: "), where
        assert isinstance(value, int) or repr(value) not in str(refused), where
        assert await repo.count() == before, where
        fresh = await repo.get(existing.id)
        assert fresh is not None and getattr(fresh, column) == getattr(existing, column)


@pytest.mark.parametrize("kind", [*NEVER, *OTHER])
@pytest.mark.parametrize("column", USER_COLUMNS)
async def test_sqlops_models(db: sqlops.Database, kind: str, column: str) -> None:
    value = NEVER.get(kind, OTHER.get(kind))
    await _check(sqlops.Repository(User, db), column, value, kind in NEVER)


@pytest.mark.parametrize("kind", [*NEVER, *OTHER])
@pytest.mark.parametrize("column", GADGET_COLUMNS)
async def test_plain_declarative_base(gadgets_db: sqlops.Database, kind: str, column: str) -> None:
    value = NEVER.get(kind, OTHER.get(kind))
    await _check(sqlops.Repository(Gadget, gadgets_db), column, value, kind in NEVER)


@pytest.mark.parametrize("kind", list(NEVER))
@pytest.mark.parametrize("column", ["created_at", "score"])  # bind processors refuse these
async def test_a_session_of_your_own_names_the_column_too(
    db: sqlops.Database, kind: str, column: str
) -> None:
    """``Repository(User, session)`` with a session from the application's own sessionmaker
    (not sqlops'): the values written into an upsert / update_where are named as well."""
    if not isinstance(db.engine, AsyncEngine):
        pytest.skip("the async API's own sessions (the sync twin's are tested above)")
    value = NEVER[kind]
    async with async_sessionmaker(db.engine, expire_on_commit=False)() as session:
        repo = sqlops.Repository(User, session)
        existing_id = (await repo.create(email="own@x", name="own")).id
        await session.commit()
        for op in ("upsert", "update_where", "update"):
            with pytest.raises(sqlops.InvalidValueError) as caught:
                await _attempt(repo, op, column, value)
            assert (caught.value.table, caught.value.column) == ("users", column), op
            await session.rollback()
        assert (await repo.get_one(existing_id)).score == 0.0


async def test_a_sql_expression_in_a_bulk_write_is_run_never_stored_as_text(
    db: sqlops.Database,
) -> None:
    """A bulk write renders a computed value as ``create`` does; a column reference is refused.

    MariaDB's drivers once sent the expression's ``str`` (``upper(:upper_1)``) and the server
    stored that text; a value that reads a column (``User.email``) has no row to read yet
    (PostgreSQL and SQLite failed untyped, MariaDB copied the column)."""
    users = sqlops.Repository(User, db)
    await users.create_many([{"email": "a@x", "name": func.upper("x")}])
    await users.upsert_many([{"email": "b@x", "name": func.upper("y")}], conflict="email")
    assert [(u.email, u.name) for u in await users.list()] == [("a@x", "X"), ("b@x", "Y")]
    for write in (
        lambda: users.create(email="c@x", name=User.email),
        lambda: users.create_many([{"email": "c@x", "name": User.email}]),
        lambda: users.upsert({"email": "c@x", "name": User.email}, conflict="email"),
        lambda: users.upsert_many([{"email": "c@x", "name": User.email}], conflict="email"),
        lambda: users.create_many([{"email": "c@x", "name": func.lower(User.email)}]),
    ):
        with pytest.raises(sqlops.InvalidValueError, match="reads a column") as info:
            await write()
        assert (info.value.table, info.value.column) == ("users", "name")
    assert await users.count() == 2


NOT_TEXT = {"int": 12, "bool": False, "float": 1.5, "date": dt.date(2020, 1, 2)}


@pytest.mark.parametrize("kind", list(NOT_TEXT))
async def test_postgresql_refuses_what_is_not_text_for_text_on_every_driver(
    gadgets_db: sqlops.Database, backend: str, kind: str
) -> None:
    """asyncpg types a parameter by its column and refuses ``False`` for a VARCHAR; psycopg
    sent it as a boolean, which PostgreSQL cast and stored as ``'false'``. Every write path
    refuses it on both drivers now, named and with nothing written."""
    if backend != "postgresql":
        pytest.skip("SQLite and MariaDB store it by their own rules (docs/reliability.md)")
    await _check(sqlops.Repository(User, gadgets_db), "name", NOT_TEXT[kind], never=True)
    await _check(sqlops.Repository(Gadget, gadgets_db), "label", NOT_TEXT[kind], never=True)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("name", decimal.Decimal("Infinity")),
        ("name", decimal.Decimal("NaN")),
        ("score", float("-inf")),  # repr "inf" is in the message's "infinity"
        ("score", decimal.Decimal("-Infinity")),
    ],
    ids=["decimal-inf-in-text", "decimal-nan-in-text", "float-inf", "decimal-inf-in-float"],
)
async def test_mariadb_refuses_nan_and_infinity_on_every_path(
    db: sqlops.Database, backend: str, column: str, value: Any
) -> None:
    """asyncmy writes a non-finite number into the SQL bare (``SET name=Infinity``): the fast
    update raised the driver's own "Unknown column 'Infinity'" (found by Hypothesis)."""
    if backend != "mysql":
        pytest.skip("MariaDB has no NaN or infinity (PostgreSQL and SQLite store them)")
    await _check(sqlops.Repository(User, db), column, value, never=True)


TEXT_FOR = {
    "count": "0",
    "ratio": "1.5",
    "ready": "true",
    "seen": "2020-01-02 03:04",
    "day": "2020-01-02",
}


@pytest.mark.parametrize("column", list(TEXT_FOR))
async def test_postgresql_refuses_text_for_numbers_and_dates_on_every_driver(
    gadgets_db: sqlops.Database, backend: str, column: str
) -> None:
    """psycopg sends a ``str`` as "unknown" and PostgreSQL parsed it: ``count="0"`` stored
    0 where asyncpg refuses the string (found by Hypothesis on psycopg). Refused on both."""
    if backend != "postgresql":
        pytest.skip("SQLite and MariaDB store it by their own rules (docs/reliability.md)")
    await _check(sqlops.Repository(Gadget, gadgets_db), column, TEXT_FOR[column], never=True)
