"""Standalone reads skip the ORM session; what they return must not differ."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest
from sqlalchemy import ForeignKey, String, func, inspect, select
from sqlalchemy.orm import Mapped, column_property, deferred, mapped_column

import sqlops
from sqlops import _fastread
from sqlops._modelinfo import model_info
from tests.models import Account, Base, Counter, Event, Membership, Note, Team, User


async def _seed(db: sqlops.Database) -> None:
    team = await sqlops.Repository(Team, db).create(name="t")
    user = await sqlops.Repository(User, db).create(
        email="a@x", name="A", age=3, team_id=team.id, nickname=None, score=1.5
    )
    await sqlops.Repository(Account, db).create(
        owner="o", balance=7, amount=decimal.Decimal("12.34")
    )
    await sqlops.Repository(Counter, db).create(key="k", hits=2, ratio=0.25)
    await sqlops.Repository(Event, db).create(
        name="e", at=dt.datetime(2030, 1, 2, 3, 4, 5, 678, tzinfo=dt.timezone.utc),
        day=dt.date(2030, 1, 2),
    )  # fmt: skip
    await sqlops.Repository(Membership, db).create(team_id=team.id, user_id=user.id, seat=4)
    await sqlops.Repository(Note, db).create(body="n", topic="x")


def _columns(obj: Any) -> dict[str, Any]:
    info = model_info(type(obj))
    return {key: getattr(obj, key) for key in info.columns}


@pytest.mark.parametrize("model", [User, Team, Account, Counter, Event, Membership, Note])
async def test_fast_reads_equal_orm_reads(db: sqlops.Database, model: type[Any]) -> None:
    await _seed(db)
    assert _fastread.plan_for(model_info(model)).eligible
    standalone = sqlops.Repository(model, db)
    fast_list = await standalone.list()
    async with db.session() as session:
        orm_list = await sqlops.Repository(model, session).list()
        expected = [_columns(o) for o in orm_list]
    assert [_columns(o) for o in fast_list] == expected
    for fast, orm in zip(fast_list, orm_list, strict=True):
        for key, value in _columns(orm).items():
            assert type(getattr(fast, key)) is type(value), key
        state = inspect(fast)
        assert state.detached and state.key == inspect(orm).key
        assert not state.modified
    pk = inspect(fast_list[0]).identity
    fetched = await standalone.get(pk if len(pk) > 1 else pk[0])
    assert fetched is not None and _columns(fetched) == expected[0]
    page = await standalone.page(per_page=5)
    assert [_columns(o) for o in page.items] == expected[:5] and page.total == len(expected)
    cursor = await standalone.cursor_page(limit=5)
    assert [_columns(o) for o in cursor.items] == expected[:5]
    assert _columns(await standalone.one(*[c == v for c, v in zip(
        model_info(model).pk_attrs, pk, strict=True)])) == expected[0]  # fmt: skip


async def test_fast_instances_behave_like_loaded_ones(db: sqlops.Database) -> None:
    await _seed(db)
    user = await sqlops.Repository(User, db).get_one(1)
    with pytest.raises(sqlops.LazyLoadError, match=r"User\.team was not loaded"):
        _ = user.team
    user.name = "changed"  # a detached object can still be changed and merged
    assert inspect(user).modified
    async with db.transaction() as session:
        merged = await session.merge(user)
        assert merged.name == "changed"
    assert (await sqlops.Repository(User, db).get_one(1)).name == "changed"


async def test_fast_get_missing_and_soft_deleted(db: sqlops.Database) -> None:
    await _seed(db)
    users = sqlops.Repository(User, db)
    assert await users.get(999) is None
    notes = sqlops.Repository(Note, db)
    note = (await notes.list())[0]
    await notes.soft_delete(note.id)
    assert await notes.get(note.id) is None
    assert (await notes.get(note.id, with_deleted=True)) is not None


class Shelf(Base):
    """A model the fast path must leave to the ORM: deferred and expression columns."""

    __tablename__ = "shelves"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(20))
    notes: Mapped[str | None] = deferred(mapped_column(String(200), default=None))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    label_length = column_property(func.length(label))


@pytest.fixture
async def shelves(db: sqlops.Database) -> sqlops.Repository[Shelf]:
    await db.create_all(Shelf.metadata)  # dropped with the rest of the schema
    return sqlops.Repository(Shelf, db)


async def test_models_the_fast_path_cannot_build_use_the_orm(
    shelves: sqlops.Repository[Shelf],
) -> None:
    assert not _fastread.plan_for(model_info(Shelf)).eligible
    shelf = await shelves.create(label="abc", notes="long")
    again = await shelves.get_one(shelf.id)
    assert again.label_length == 3
    rows = await shelves.list(label="abc")
    assert [r.label_length for r in rows] == [3]
    assert (await shelves.page()).total == 1


@pytest.mark.parametrize("internal", ["_state_constructor", "_state_setter"])
def test_a_sqlalchemy_without_the_internals_the_fast_path_uses_is_not_used(
    monkeypatch: pytest.MonkeyPatch, internal: str
) -> None:
    """The fast path inlines ClassManager.new_instance(); without its internals, no plan."""
    from sqlalchemy.orm.instrumentation import ClassManager

    assert _fastread._make_plan(model_info(Team)).eligible
    manager = inspect(Team).class_manager
    if internal in vars(manager):  # a memoized property caches itself on the instance
        monkeypatch.delitem(vars(manager), internal)
    monkeypatch.delattr(ClassManager, internal)
    assert not _fastread._make_plan(model_info(Team)).eligible


async def test_select_still_returns_an_orm_statement(db: sqlops.Database) -> None:
    stmt = sqlops.Repository(User, db).select(name="x")
    assert stmt.column_descriptions[0]["entity"] is User
    async with db.session() as session:
        assert (await session.scalars(stmt)).all() == []
    assert select(User).compare(select(User))


async def test_fast_reads_give_connections_back_under_every_pool(url: str) -> None:
    """Overflow connections are closed on return, NullPool closes every one: no leak."""
    import asyncio
    import gc

    from sqlalchemy.pool import NullPool

    for options in (
        {"pool_size": 1, "max_overflow": 4},
        {"engine_options": {"poolclass": NullPool}},
    ):
        async with sqlops.Database(url, **options) as db:  # type: ignore[arg-type]
            await db.create_all(Base.metadata)
            try:
                users = sqlops.Repository(User, db)
                await users.create(email="a@x", name="a")
                found = await asyncio.gather(*(users.get(1) for _ in range(10)))
                assert all(u is not None for u in found)
                pages = await asyncio.gather(*(users.page(per_page=5) for _ in range(10)))
                assert {p.total for p in pages} == {1}
                if db.engine.pool.__class__.__name__ != "NullPool":
                    assert db.engine.pool.checkedout() == 0
            finally:
                await db.drop_all(Base.metadata)
        gc.collect()  # an unclosed driver connection would warn here (warnings are errors)


async def test_statement_listeners_see_every_read(db: sqlops.Database) -> None:
    """With a listener (tracing, query counting) the reads take the observed path."""
    from sqlalchemy import event

    await _seed(db)
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        users = sqlops.Repository(User, db)
        await users.get(1)
        await users.list(name="A")
        await users.page()
        await users.count()
        await users.create_many([{"email": "z@x", "name": "z"}])
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    reads = [s for s in seen if s.lstrip().upper().startswith(("SELECT", "INSERT"))]
    assert len(reads) >= 5


async def test_a_read_cancelled_at_any_await_point_closes_what_it_discards(
    db: sqlops.Database, caplog: pytest.LogCaptureFixture
) -> None:
    """The fast route cut off mid-call discards its connection; closing it must work on
    every driver: on psycopg it raised MissingGreenlet ("Exception terminating
    connection") and left the connection to the garbage collector (ResourceWarning)."""
    import asyncio
    import gc
    import logging
    import warnings

    from tests.reliability.test_cancel_points import CancelAt

    await _seed(db)
    users = sqlops.Repository(User, db)
    caplog.set_level(logging.ERROR)
    cancelled = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for k in range(1, 40):

            async def read(k: int = k) -> Any:
                return await CancelAt(users.list(order_by="id"), k)

            try:
                await asyncio.create_task(read())
            except asyncio.CancelledError:
                cancelled += 1
                gc.collect()
                continue
            break
        gc.collect()
    assert cancelled >= 1  # the read suspends at least once before it completes
    leaked = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaked == []
    # a connection that could not be closed: what psycopg's MissingGreenlet logged. (A reset
    # cut off by the cancellation, "Exception during reset", is SQLAlchemy discarding a
    # connection it then closes: aiomysql on the ORM route logs it.)
    unclosed = [r.getMessage() for r in caplog.records if "terminating" in r.getMessage()]
    assert unclosed == []
    assert [u.email for u in await users.list()] == ["a@x"]  # the pool goes on
