"""``update()`` by primary key leaves the same rows and the same session on either route.

Each test runs over the fast route (one UPDATE sent by sqlops) and over the ORM route
(``session.get`` + flush), see tests/integration/conftest.py; what the test checks must
hold on both. A few checks are about the fast route itself and say so.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import String, event, func, inspect, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

import sqlops
from sqlops.testing import count_queries
from tests.models import Note, User


async def _user(db: sqlops.Database, **values: Any) -> User:
    return await sqlops.Repository(User, db).create(email="a@x", name="a", **values)


async def test_a_held_object_is_updated_in_place(db: sqlops.Database, sqlops_route: str) -> None:
    user = await _user(db)
    async with db.transaction() as session:
        users = sqlops.Repository(User, session)
        held = await users.get_one(user.id)
        with count_queries() as counted:
            again = await users.update(user.id, name="b", age=3)
        assert again is held and (held.name, held.age) == ("b", 3)
        assert not session.dirty and not inspect(held).modified  # nothing left to flush
        assert held.updated_at >= user.updated_at
        assert len(counted.statements) == 1  # utcnow() for updated_at is computed client-side
        if sqlops_route == "fast" and db.dialect != "mysql":
            assert "RETURNING" in counted.statements[0].upper()
    async with db.session() as check:
        row = (await check.execute(select(User.name, User.age).where(User.id == user.id))).one()
    assert tuple(row) == ("b", 3)


async def test_values_equal_to_the_held_ones_send_nothing(db: sqlops.Database) -> None:
    user = await _user(db, age=5)
    async with db.transaction() as session:
        users = sqlops.Repository(User, session)
        held = await users.get_one(user.id)
        with count_queries() as counted:
            assert await users.update(user.id, name="a", age=5) is held
        assert counted.statements == []
    assert (await sqlops.Repository(User, db).get_one(user.id)).updated_at == user.updated_at


async def test_a_standalone_update_that_changes_nothing_bumps_no_timestamp(
    db: sqlops.Database,
) -> None:
    user = await _user(db)
    users = sqlops.Repository(User, db)
    same = await users.update(user.id, name="a")
    assert same.updated_at == user.updated_at
    await asyncio.sleep(0.01)
    changed = await users.update(user.id, name="b")
    assert changed.name == "b" and changed.updated_at > user.updated_at
    stored = await users.get_one(user.id)
    assert (stored.name, stored.updated_at) == ("b", changed.updated_at)


async def test_a_row_the_session_does_not_hold_joins_it(db: sqlops.Database) -> None:
    user = await _user(db)
    async with db.transaction() as session:
        users = sqlops.Repository(User, session)
        updated = await users.update(user.id, nickname="n")
        state = inspect(updated)
        assert state.persistent and state.session is session.sync_session
        assert await users.get(user.id) is updated and not state.modified
        assert (updated.email, updated.nickname) == ("a@x", "n")
        updated.age = 9  # a later change flushes like any loaded object's
    assert (await sqlops.Repository(User, db).get_one(user.id)).age == 9


async def test_server_side_onupdate_values_come_back(db: sqlops.Database) -> None:
    class Base(DeclarativeBase):
        pass

    class Stamp(Base):
        __tablename__ = "fw_stamps"
        id: Mapped[int] = mapped_column(primary_key=True)
        label: Mapped[str] = mapped_column(String(20))
        touched: Mapped[int] = mapped_column(default=0, onupdate=7)
        seen: Mapped[dt.datetime | None] = mapped_column(onupdate=func.now())

    await db.create_all(Base.metadata)
    try:
        stamps = sqlops.Repository(Stamp, db)
        await stamps.create(id=1, label="x")
        out = await stamps.update(1, label="y")
        stored = await stamps.get_one(1)
        assert (out.label, out.touched) == ("y", 7) == (stored.label, stored.touched)
        assert out.seen is not None and out.seen == stored.seen
    finally:
        await db.drop_all(Base.metadata)


async def test_missing_and_soft_deleted_rows_are_not_found(db: sqlops.Database) -> None:
    notes = sqlops.Repository(Note, db)
    note = await notes.create(body="b")
    await notes.soft_delete(note.id)
    for pk in (note.id, 10_000):
        with pytest.raises(sqlops.NotFoundError):
            await notes.update(pk, body="c")
        async with db.transaction() as session:
            with pytest.raises(sqlops.NotFoundError):
                await sqlops.Repository(Note, session).update(pk, body="c")


async def test_a_held_row_deleted_meanwhile_is_a_stale_version(db: sqlops.Database) -> None:
    if db.dialect == "sqlite":
        pytest.skip("SQLite's write lock keeps other writers out while a transaction is open")
    user = await _user(db)
    with pytest.raises(sqlops.StaleVersionError):
        async with db.transaction() as session:
            users = sqlops.Repository(User, session)
            held = await users.get_one(user.id)  # the identity map holds objects weakly
            await sqlops.Repository(User, db).delete(user.id)  # another transaction
            await users.update(held.id, name="late")


async def test_a_violation_ends_the_transaction_unless_in_a_savepoint(
    db: sqlops.Database,
) -> None:
    users = sqlops.Repository(User, db)
    await _user(db)
    other = await users.create(email="b@x", name="b")
    async with db.transaction() as session:
        injected = sqlops.Repository(User, session)
        with pytest.raises(sqlops.SqlopsError, match="leave the savepoint"):
            async with db.savepoint(session):
                await injected.get_one(other.id)
                with pytest.raises(sqlops.UniqueViolation) as caught:
                    await injected.update(other.id, email="a@x")
                assert caught.value.columns == ("email",)
                raise sqlops.SqlopsError("leave the savepoint")  # its rollback forgets it
        await injected.update(other.id, name="kept")  # the transaction goes on
    with pytest.raises(sqlops.TransactionAbortedError):
        async with db.transaction() as session:
            injected = sqlops.Repository(User, session)
            with pytest.raises(sqlops.UniqueViolation):
                await injected.update(other.id, email="a@x")
            await injected.update(other.id, name="lost")
    assert (await users.get_one(other.id)).name == "kept"


async def test_application_hooks_still_run(db: sqlops.Database) -> None:
    class Base(DeclarativeBase):
        pass

    class Hooked(Base):
        __tablename__ = "fw_hooked"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(20))
        slug: Mapped[str] = mapped_column(String(20), default="")

        @validates("name")
        def _lower(self, key: str, value: str) -> str:
            return value.lower()

    calls: list[str] = []
    event.listen(Hooked, "before_update", lambda *a: calls.append("before_update"))
    await db.create_all(Base.metadata)
    try:
        hooked = sqlops.Repository(Hooked, db)
        await hooked.create(id=1, name="a")
        assert (await hooked.update(1, name="LOUD")).name == "loud"  # the validator ran
        assert calls == ["before_update"]
        assert (await hooked.get_one(1)).name == "loud"
    finally:
        await db.drop_all(Base.metadata)


async def test_a_before_flush_hook_sees_the_update(db: sqlops.Database) -> None:
    user = await _user(db)
    seen: list[Any] = []

    async with db.transaction() as session:

        @event.listens_for(session.sync_session, "before_flush")
        def note(s: Any, *args: Any) -> None:
            seen.extend((type(o).__name__, o.name) for o in s.dirty)

        await sqlops.Repository(User, session).update(user.id, name="flushed")
    assert seen == [("User", "flushed")]


async def test_an_expired_held_object_is_updated_and_loaded(db: sqlops.Database) -> None:
    user = await _user(db)
    async with db.transaction() as session:
        users = sqlops.Repository(User, session)
        held = await users.get_one(user.id)
        session.expire(held)
        assert await users.update(user.id, age=4) is held
        assert (held.age, held.name) == (4, "a")


@pytest.mark.parametrize("held", [False, True])
async def test_a_refused_value_names_its_column(
    db: sqlops.Database, held: bool, sqlops_route: str
) -> None:
    user = await _user(db)
    async with db.transaction() as session:
        users = sqlops.Repository(User, session)
        kept = await users.get_one(user.id) if held else None
        with pytest.raises(sqlops.InvalidValueError) as caught:
            async with db.savepoint(session):
                await users.update(user.id, score=[1.0])  # no float: refused before sending
        if sqlops_route == "fast" and db.dialect != "mysql":  # the driver template's
            assert caught.value.column == "score"  # (SQLAlchemy's StatementError: unnamed)
        if db.dialect != "sqlite":  # SQLite stores long strings
            with pytest.raises(sqlops.InvalidValueError) as caught:
                async with db.savepoint(session):
                    await users.update(user.id, nickname="x" * 51)
            assert caught.value.column == "nickname"
        await users.update(user.id, name="kept")  # the transaction went on
        assert kept is None or kept.name == "kept"
    assert (await sqlops.Repository(User, db).get_one(user.id)).name == "kept"


async def test_a_read_only_transaction_refuses_the_update(db: sqlops.Database) -> None:
    user = await _user(db)
    with pytest.raises(sqlops.ReadOnlyTransactionError):
        async with db.transaction(readonly=True) as session:
            users = sqlops.Repository(User, session)
            held = await users.get_one(user.id)
            await users.update(held.id, name="nope")
    assert (await sqlops.Repository(User, db).get_one(user.id)).name == "a"


async def test_two_tasks_updating_through_one_session_are_refused(db: sqlops.Database) -> None:
    # as for reads (test_injected_reads): the fast write holds the session's guard itself
    await sqlops.Repository(User, db).create_many(
        [{"email": f"u{i}@x", "name": f"u{i}"} for i in range(2)]
    )
    async with db.transaction() as session:
        users = sqlops.Repository(User, session)
        first, second = await asyncio.wait_for(
            asyncio.gather(
                users.update(1, name="one"), users.update(2, name="two"), return_exceptions=True
            ),
            10,
        )
        assert not isinstance(first, BaseException), first
        assert first.name == "one"
        assert isinstance(second, sqlops.SessionMisuseError), second
        assert (await users.update(2, name="two")).name == "two"  # the session goes on
    assert [u.name for u in await sqlops.Repository(User, db).list(order_by="id")] == ["one", "two"]


async def test_the_applications_own_session_updating_from_two_tasks_serves_both(
    db: sqlops.Database, sqlops_route: str
) -> None:
    # no sqlops guard there: the first write's BEGIN (asyncpg defers it) is sent under
    # SQLAlchemy's adapter lock too, or the second task's BEGIN collides with it
    from sqlalchemy.ext.asyncio import AsyncSession

    if sqlops_route == "orm":
        pytest.skip("SQLAlchemy's own flush is not safe from two tasks (MariaDB: out of sync)")
    await sqlops.Repository(User, db).create_many(
        [{"email": f"u{i}@x", "name": f"u{i}"} for i in range(4)]
    )
    for round_ in range(3):
        async with AsyncSession(db.engine, expire_on_commit=False) as session:
            await session.connection()  # SQLAlchemy refuses two tasks while it connects
            users = sqlops.Repository(User, session)
            names = [f"r{round_}-{i}" for i in range(4)]
            updates = (users.update(i + 1, name=name) for i, name in enumerate(names))
            done = await asyncio.wait_for(asyncio.gather(*updates), 10)
            assert [u.name for u in done] == names
            await session.commit()
        listed = await sqlops.Repository(User, db).list(order_by="id")
        assert [u.name for u in listed] == names
