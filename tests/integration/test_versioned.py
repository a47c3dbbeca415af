"""Optimistic locking: ``Versioned``, ``update(expected_version=…)`` and stale flushes.

On three model styles (sqlops ``Base``; a plain ``DeclarativeBase`` with its own
``__mapper_args__`` and another mixin's; ``MappedAsDataclass`` with a hand-written
``version_id_col``), on every backend.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pydantic
import pytest
from sqlalchemy import ForeignKey, String, inspect
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedAsDataclass, declared_attr, mapped_column

import sqlops
from sqlops.models import Base, IntPK, SoftDelete, Timestamps, Versioned


class SqlopsDoc(Versioned, IntPK, Timestamps, SoftDelete, Base):
    __tablename__ = "ver_docs"
    title: Mapped[str] = mapped_column(String(50))
    body: Mapped[str] = mapped_column(String(200), default="")


class Plain(DeclarativeBase):
    pass


class EagerDefaults:
    """Another mixin with mapper args of its own: both must survive."""

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"eager_defaults": True}


class PlainDoc(Versioned, Plain):
    __tablename__ = "ver_plain_docs"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), default="doc")
    title: Mapped[str] = mapped_column(String(50))
    body: Mapped[str] = mapped_column(String(200), default="")
    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "doc"}


class PlainMemo(PlainDoc):
    """Joined inheritance: two tables, so update() takes the ORM route (read, check, flush)."""

    __tablename__ = "ver_plain_memos"
    id: Mapped[int] = mapped_column(ForeignKey("ver_plain_docs.id"), primary_key=True)
    due: Mapped[str] = mapped_column(String(10), default="")
    __mapper_args__ = {"polymorphic_identity": "memo"}


class Dataclassy(MappedAsDataclass, DeclarativeBase):
    pass


class DataclassDoc(Dataclassy):
    """Mixins cannot join a dataclass mapping: ``version_id_col`` by hand works the same."""

    __tablename__ = "ver_dc_docs"
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    title: Mapped[str] = mapped_column(String(50))
    body: Mapped[str] = mapped_column(String(200), default="")
    version: Mapped[int] = mapped_column(default=None, nullable=False)
    __mapper_args__ = {"version_id_col": version}


MODELS = {"sqlops": SqlopsDoc, "plain": PlainDoc, "dataclass": DataclassDoc}


@pytest.fixture(params=sorted(MODELS))
def model(request: pytest.FixtureRequest) -> type[Any]:
    return MODELS[request.param]


@pytest.fixture
async def db(url: URL | str, model: type[Any]) -> AsyncIterator[sqlops.Database]:
    metadata = model.metadata
    async with sqlops.Database(url) as database:
        await database.drop_all(metadata)
        await database.create_all(metadata)
        try:
            yield database
        finally:
            await database.drop_all(metadata)


def test_the_mixin_composes_with_the_class_own_mapper_args() -> None:
    mapper = inspect(PlainDoc)
    assert mapper.version_id_col is PlainDoc.__table__.c.version
    assert mapper.polymorphic_identity == "doc"
    assert inspect(SqlopsDoc).version_id_col is SqlopsDoc.__table__.c.version


def test_the_mixin_composes_with_another_mixins_mapper_args() -> None:
    class Other(DeclarativeBase):
        pass

    class Before(Versioned, EagerDefaults, Other):
        __tablename__ = "ver_before"
        id: Mapped[int] = mapped_column(primary_key=True)

    class After(EagerDefaults, Versioned, Other):
        __tablename__ = "ver_after"
        id: Mapped[int] = mapped_column(primary_key=True)

    for cls in (Before, After):
        mapper = inspect(cls)
        assert mapper.eager_defaults is True, cls
        assert mapper.version_id_col is cls.__table__.c.version, cls


def test_a_subclass_inherits_the_version_column() -> None:
    class Other(DeclarativeBase):
        pass

    class Parent(Versioned, Other):
        __tablename__ = "ver_parents"
        id: Mapped[int] = mapped_column(primary_key=True)
        kind: Mapped[str] = mapped_column(String(10))
        __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "parent"}

    class Child(Parent):
        __mapper_args__ = {"polymorphic_identity": "child"}

    mapper = inspect(Child)
    assert mapper.version_id_col is Parent.__table__.c.version
    assert mapper.polymorphic_identity == "child"


async def test_create_starts_at_1_and_every_update_bumps(
    db: sqlops.Database, model: type[Any]
) -> None:
    docs = sqlops.Repository(model, db)
    doc = await docs.create(title="a")
    assert doc.version == 1
    doc = await docs.update(doc.id, title="b")
    assert (doc.title, doc.version) == ("b", 2)
    doc = await docs.update(doc.id, title="c", expected_version=2)
    assert (doc.title, doc.version) == ("c", 3)
    assert (await docs.get_one(doc.id)).version == 3
    assert (await docs.update(doc.id)).version == 3  # nothing to write: no bump


async def test_a_stale_expected_version_raises_and_writes_nothing(
    db: sqlops.Database, model: type[Any]
) -> None:
    docs = sqlops.Repository(model, db)
    doc = await docs.create(title="a")
    await docs.update(doc.id, title="b")
    with pytest.raises(sqlops.StaleVersionError) as info:
        await docs.update(doc.id, title="lost", expected_version=1)
    err = info.value
    assert (err.model, err.key, err.expected, err.actual) == (model, doc.id, 1, 2)
    assert "expected version 1" in str(err) and "\n" not in str(err)
    found = await docs.get_one(doc.id)
    assert (found.title, found.version) == ("b", 2)


async def test_a_missing_row_stays_not_found(db: sqlops.Database, model: type[Any]) -> None:
    docs = sqlops.Repository(model, db)
    with pytest.raises(sqlops.NotFoundError):
        await docs.update(12345, title="x", expected_version=1)
    with pytest.raises(sqlops.NotFoundError):
        await docs.update(12345, title="x")


@pytest.mark.parametrize("model", ["plain"], indirect=True)
async def test_joined_inheritance_checks_the_version_too(db: sqlops.Database) -> None:
    memos = sqlops.Repository(PlainMemo, db)
    memo = await memos.create(title="a", due="mon")
    memo = await memos.update(memo.id, title="b", due="tue", expected_version=1)
    assert (memo.title, memo.due, memo.version) == ("b", "tue", 2)
    with pytest.raises(sqlops.StaleVersionError) as info:
        await memos.update(memo.id, due="wed", expected_version=1)
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert (await memos.get_one(memo.id)).due == "tue"


@pytest.mark.parametrize("model", ["sqlops"], indirect=True)
async def test_the_checked_update_refreshes_updated_at(db: sqlops.Database) -> None:
    docs = sqlops.Repository(SqlopsDoc, db)
    doc = await docs.create(title="a")
    await asyncio.sleep(0.002)
    updated = await docs.update(doc.id, title="b", expected_version=1)
    assert updated.updated_at > doc.updated_at
    assert updated.created_at == doc.created_at


@pytest.mark.parametrize("model", ["sqlops"], indirect=True)
async def test_a_soft_deleted_row_is_not_found(db: sqlops.Database) -> None:
    docs = sqlops.Repository(SqlopsDoc, db)
    doc = await docs.create(title="a")
    await docs.soft_delete(doc.id)
    with pytest.raises(sqlops.NotFoundError):
        await docs.update(doc.id, title="x", expected_version=1)


async def test_the_version_checked_update_is_one_update(
    db: sqlops.Database, model: type[Any], count_queries: Any
) -> None:
    docs = sqlops.Repository(model, db)
    doc = await docs.create(title="a")
    with count_queries() as q:
        await docs.update(doc.id, title="b", expected_version=1)
    updates = [s for s in q.statements if s.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 1, q
    assert "version" in updates[0].split("WHERE", 1)[1]


async def test_update_with_a_schema_and_expected_version(
    db: sqlops.Database, model: type[Any]
) -> None:
    class Patch(pydantic.BaseModel):
        title: str | None = None
        body: str | None = None

    docs = sqlops.Repository(model, db)
    doc = await docs.create(title="a", body="kept")
    doc = await docs.update(doc.id, Patch(title="b"), expected_version=1)
    assert (doc.title, doc.body, doc.version) == ("b", "kept", 2)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # refused before any SQL
async def test_expected_version_on_an_unversioned_model_is_refused(url: URL | str) -> None:
    from tests.models import Base as TestBase
    from tests.models import Tag

    async with sqlops.Database(url) as db:
        await db.create_all(TestBase.metadata)
        try:
            with pytest.raises(TypeError, match="no version column"):
                await sqlops.Repository(Tag, db).update(1, label="x", expected_version=1)
        finally:
            await db.drop_all(TestBase.metadata)


async def test_two_writers_with_the_same_version_exactly_one_wins(
    db: sqlops.Database, model: type[Any]
) -> None:
    docs = sqlops.Repository(model, db)
    doc = await docs.create(title="start")
    writers = 6
    start = asyncio.Event()

    async def write(n: int) -> Any:
        await start.wait()
        return await docs.update(doc.id, title=f"w{n}", expected_version=1)

    tasks = [asyncio.ensure_future(write(n)) for n in range(writers)]
    start.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1, results
    assert all(isinstance(r, sqlops.StaleVersionError) for r in lost), lost
    assert all(r.actual == 2 and r.expected == 1 for r in lost)
    final = await docs.get_one(doc.id)
    assert (final.title, final.version) == (won[0].title, 2)


async def test_overlapping_transactions_one_blocks_then_loses(
    db: sqlops.Database, model: type[Any]
) -> None:
    """The winner holds its row lock while the loser's UPDATE waits on it."""
    doc = await sqlops.Repository(model, db).create(title="start")
    first_wrote = asyncio.Event()

    async def winner() -> None:
        async with db.transaction() as session:
            await sqlops.Repository(model, session).update(doc.id, title="A", expected_version=1)
            first_wrote.set()
            await asyncio.sleep(0.2)  # the loser is now waiting for our lock

    async def loser() -> None:
        await first_wrote.wait()
        async with db.transaction() as session:
            await sqlops.Repository(model, session).update(doc.id, title="B", expected_version=1)

    results = await asyncio.gather(winner(), loser(), return_exceptions=True)
    assert results[0] is None
    assert isinstance(results[1], sqlops.StaleVersionError), results
    assert (await sqlops.Repository(model, db).get_one(doc.id)).title == "A"


async def test_two_sessions_editing_the_same_object_one_flush_loses(
    db: sqlops.Database, model: type[Any], backend: str
) -> None:
    """Both load version 1 and change it; the second COMMIT's flush matches no row."""
    if backend == "sqlite":
        pytest.skip("SQLite writers queue at BEGIN IMMEDIATE: the second one reads version 2")
    doc = await sqlops.Repository(model, db).create(title="start")
    both_loaded, loaded = asyncio.Event(), []  # asyncio.Barrier(2) is Python 3.11+

    async def edit(title: str, delay: float) -> None:
        async with db.transaction() as session:
            mine = await session.get(model, doc.id)
            loaded.append(title)
            if len(loaded) == 2:
                both_loaded.set()
            await both_loaded.wait()
            await asyncio.sleep(delay)
            mine.title = title  # flushed at commit: UPDATE … WHERE version = 1

    results = await asyncio.gather(edit("A", 0), edit("B", 0.1), return_exceptions=True)
    assert results[0] is None, results
    assert isinstance(results[1], sqlops.StaleVersionError), results
    assert (results[1].model, results[1].key, results[1].expected) == (model, doc.id, 1)
    final = await sqlops.Repository(model, db).get_one(doc.id)
    assert (final.title, final.version) == ("A", 2)


async def test_a_flush_of_a_stale_object_raises_stale_version(
    db: sqlops.Database, model: type[Any]
) -> None:
    docs = sqlops.Repository(model, db)
    doc = await docs.create(title="a")
    mine = await docs.get_one(doc.id)  # detached, at version 1
    await docs.update(doc.id, title="theirs")  # someone else: version 2
    with pytest.raises(sqlops.StaleVersionError) as info:
        async with db.transaction() as session:
            session.add(mine)
            mine.title = "mine"
    err = info.value
    assert (err.model, err.key, err.expected) == (model, doc.id, 1)
    assert isinstance(err.__cause__, Exception)
    assert (await docs.get_one(doc.id)).title == "theirs"


async def test_a_stale_delete_raises_stale_version(db: sqlops.Database, model: type[Any]) -> None:
    docs = sqlops.Repository(model, db)
    doc = await docs.create(title="a")
    mine = await docs.get_one(doc.id)
    await docs.update(doc.id, title="theirs")
    with pytest.raises(sqlops.StaleVersionError):
        async with db.transaction() as session:
            await session.delete(await session.merge(mine, load=False))
    assert await docs.exists(id=doc.id)


async def test_a_session_of_your_own_gets_stale_version_from_repository_calls(
    db: sqlops.Database, model: type[Any]
) -> None:
    docs = sqlops.Repository(model, db)
    doc = await docs.create(title="a")
    async with AsyncSession(db.engine, expire_on_commit=False) as session:
        mine = await session.get(model, doc.id)
        await session.commit()
        await docs.update(doc.id, title="theirs")
        mine.title = "mine"  # stale, flushed by the next repository write
        with pytest.raises(sqlops.StaleVersionError) as info:
            await sqlops.Repository(model, session).create(title="other")
        await session.rollback()
    assert info.value.model is model


def test_stale_version_error_is_a_sqlops_error() -> None:
    err = sqlops.StaleVersionError(model=SqlopsDoc, key=3, expected=1, actual=2)
    assert isinstance(err, sqlops.SqlopsError)
    assert str(err) == (
        "SqlopsDoc 3 was changed by someone else (expected version 1, it is now 2); "
        "read it again and retry"
    )
    assert dataclasses.is_dataclass(DataclassDoc)
