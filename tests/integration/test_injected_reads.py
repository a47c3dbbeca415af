"""Reads in a caller's session take the fast route and behave as the ORM route does.

The route switch is parametrized (``sqlops_route``, tests/integration/conftest.py): each
test here runs over the fast route and over the ORM route, so a difference fails a test.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from sqlalchemy import Integer, event, inspect, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import sqlops
from sqlops import _executor
from sqlops._query import ReadQuery
from sqlops.testing import count_queries
from tests.models import Note, User


async def _seed(db: sqlops.Database, n: int = 3) -> None:
    await sqlops.Repository(User, db).create_many(
        [{"email": f"u{i}@x", "name": f"u{i}"} for i in range(n)]
    )


async def test_an_object_the_session_holds_is_returned_as_is(db: sqlops.Database) -> None:
    await _seed(db)
    async with db.transaction() as session:
        users = sqlops.Repository(User, session)
        first = await users.get_one(1)
        assert await users.get(1) is first
        listed = await users.list(order_by="id")
        assert listed[0] is first
        assert (await users.page(per_page=2)).items[0] is first
        assert (await users.cursor_page(limit=2)).items[0] is first
        assert await users.one(email="u0@x") is first


async def test_new_objects_join_the_session_as_persistent(db: sqlops.Database) -> None:
    await _seed(db)
    async with db.transaction() as session:
        users = sqlops.Repository(User, session)
        listed = await users.list(order_by="id")
        for obj in listed:
            state = inspect(obj)
            assert state.persistent and state.session is session.sync_session
            assert not state.modified and obj in session
        listed[1].name = "renamed"  # a later change is flushed like any loaded object's
        assert listed[1] in session.dirty
    async with db.session() as check:
        assert (await check.get(User, listed[1].id)).name == "renamed"  # type: ignore[union-attr]


async def test_pending_changes_are_flushed_before_the_read(db: sqlops.Database) -> None:
    await _seed(db)
    async with db.transaction() as session:
        users = sqlops.Repository(User, session)
        held = await users.get_one(1)
        held.name = "changed"
        session.add(User(email="new@x", name="new"))
        assert [u.email for u in await users.list(name="changed")] == ["u0@x"]
        assert await users.count(name="new") == 1
        assert await users.exists(email="new@x")


async def test_expired_objects_are_loaded_again(db: sqlops.Database) -> None:
    await _seed(db)
    async with db.transaction() as session:
        users = sqlops.Repository(User, session)
        held = await users.get_one(1)
        stmt = update(User).where(User.id == 1).values(name="x")
        await session.execute(stmt.execution_options(synchronize_session=False))
        session.expire(held)
        again = await users.list(order_by="id", limit=1)
        assert again == [held] and held.name == "x"
        assert not set(inspect(held).unloaded) & {"name", "email", "age"}
        session.expire(held, ["name"])
        assert await users.get(1) is held  # as session.get: from the identity map
        assert [u.name for u in await users.list(id=1)] == ["x"]  # a row load fills it in


async def test_soft_deleted_rows_stay_hidden_in_the_session(db: sqlops.Database) -> None:
    notes = sqlops.Repository(Note, db)
    note = await notes.create(body="b")
    await notes.soft_delete(note.id)
    async with db.transaction() as session:
        injected = sqlops.Repository(Note, session)
        assert await injected.get(note.id) is None
        assert await injected.list() == []
        assert (await injected.get(note.id, with_deleted=True)) is not None


async def test_statement_listeners_see_the_injected_reads(db: sqlops.Database) -> None:
    await _seed(db)
    async with db.transaction() as session:
        users = sqlops.Repository(User, session)
        with count_queries() as q:
            await users.get(2)
            await users.list(name="u1")
            await users.page(per_page=2)
            await users.count()
        assert q.count == 4, q


async def test_application_orm_hooks_still_run(db: sqlops.Database) -> None:
    await _seed(db)
    seen: list[Any] = []
    async with db.transaction() as session:
        event.listen(session.sync_session, "do_orm_execute", lambda state: seen.append(state))
        await sqlops.Repository(User, session).list()
    assert len(seen) == 1


async def test_a_clean_session_takes_the_fast_route(db: sqlops.Database, sqlops_route: str) -> None:
    async with db.transaction() as session:
        users = sqlops.Repository(User, session)
        q = ReadQuery("list")
        assert (_executor.fast_plan(users, q) is not None) is (sqlops_route == "fast")
        session.add(User(email="p@x", name="p"))
        assert _executor.fast_plan(users, q) is None  # pending: the ORM autoflushes


async def test_a_lazily_begun_session_reads_as_its_transaction_would(
    db: sqlops.Database, sqlops_route: str
) -> None:
    await _seed(db)
    async with db.session() as session:
        users = sqlops.Repository(User, session)
        await users.list()
        assert session.in_transaction()
        if db.driver == "asyncpg":
            raw = await (await session.connection()).get_raw_connection()
            # READ COMMITTED: the read went alone, BEGIN is still due (see the next test)
            began = raw.driver_connection.is_in_transaction()
            assert began is (sqlops_route == "orm")
        session.add(User(email="n@x", name="n"))
        ids = (await session.scalars(select(User.id).order_by(User.id))).all()
        assert ids == [1, 2, 3, 4]
        await session.rollback()
    assert await sqlops.Repository(User, db).count() == 3


async def test_a_stream_in_the_session_uses_its_identity_map(db: sqlops.Database) -> None:
    await _seed(db, 5)
    async with db.transaction() as session:
        users = sqlops.Repository(User, session)
        held = await users.get_one(2)
        expired = await users.get_one(3)
        stmt = update(User).where(User.id == 3).values(name="three")
        await session.execute(stmt.execution_options(synchronize_session=False))
        session.expire(expired)
        streamed = [u async for u in users.stream(order_by="id", batch_size=2)]
        assert [u.id for u in streamed] == [1, 2, 3, 4, 5]
        assert streamed[1] is held and streamed[2] is expired
        assert expired.name == "three"  # loaded from its row, as the ORM's loader does
        assert all(inspect(u).persistent for u in streamed)
        streamed[4].name = "changed"
    async with db.session() as check:
        assert (await check.get_one(User, 5)).name == "changed"


async def test_a_standalone_stream_returns_detached_rows(db: sqlops.Database) -> None:
    await _seed(db, 5)
    users = sqlops.Repository(User, db)
    streamed = [u async for u in users.stream(order_by="-id", batch_size=2, name__ne="u1")]
    assert [u.id for u in streamed] == [5, 4, 3, 1]
    assert all(inspect(u).detached and not inspect(u).modified for u in streamed)


async def test_a_reading_session_holds_no_transaction_open(
    db: sqlops.Database, backend: str
) -> None:
    """READ COMMITTED: a read alone sees what it would as the transaction's first statement."""
    if db.driver != "asyncpg":
        pytest.skip("the deferred BEGIN is asyncpg's")
    await _seed(db)
    async with db.session() as session:
        users = sqlops.Repository(User, session)
        assert (await users.get_one(1)).name == "u0"
        assert [u.name for u in await users.list(order_by="id", limit=2)] == ["u0", "u1"]
        raw = await (await session.connection()).get_raw_connection()
        pid = raw.driver_connection.get_server_pid()  # type: ignore[union-attr]
        async with db.session() as other:
            state = await other.scalar(
                text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
        assert state == ("idle" if _executor.forced_route is None else "idle in transaction")
        await users.update(1, name="w")  # a write begins the transaction as usual
        assert await users.get_one(2) is not None
        async with db.session() as other:
            state = await other.scalar(
                text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
        assert state == "idle in transaction"
        await session.rollback()
    assert (await sqlops.Repository(User, db).get_one(1)).name == "u0"


async def test_a_repeatable_read_session_keeps_its_snapshot(
    db: sqlops.Database, backend: str, url: Any
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite has one isolation level")
    await _seed(db)
    snapshot = sqlops.Database(url, engine_options={"isolation_level": "REPEATABLE READ"})
    try:
        async with snapshot.session() as session:
            users = sqlops.Repository(User, session)
            assert (await users.list(id=1))[0].name == "u0"
            await sqlops.Repository(User, db).update(1, name="later")  # another transaction
            session.expire_all()
            assert (await users.list(id=1))[0].name == "u0"  # the snapshot of the first read
    finally:
        await snapshot.dispose()


async def test_an_unknown_database_error_in_a_transaction_names_its_cause(
    db: sqlops.Database, backend: str
) -> None:
    """PostgreSQL: the error aborted the transaction, so the read is not run again."""
    if backend != "postgresql":
        pytest.skip("a PL/pgSQL function raising a custom error")

    class ViewBase(DeclarativeBase):
        pass

    class Boom(ViewBase):
        __tablename__ = "boom_view"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        x: Mapped[int]

    ddl = [
        "CREATE FUNCTION boom(i int) RETURNS int LANGUAGE plpgsql AS "
        "$$ BEGIN IF i = 2 THEN RAISE EXCEPTION 'boom at %', i USING ERRCODE = 'P0042'; "
        "END IF; RETURN i; END $$",
        "CREATE VIEW boom_view AS SELECT g AS id, boom(g) AS x FROM generate_series(1, 3) g",
    ]
    async with db.transaction() as session:
        for statement in ddl:
            await session.execute(text(statement))
    try:
        async with db.transaction() as session:
            booms = sqlops.Repository(Boom, session)
            assert (await booms.get_one(1)).x == 1
            with pytest.raises(Exception, match="boom at 2") as caught:
                await booms.get(2)
            assert "aborted" not in str(caught.value)
            await session.rollback()
    finally:
        async with db.transaction() as session:
            await session.execute(text("DROP VIEW boom_view"))
            await session.execute(text("DROP FUNCTION boom(int)"))


async def _two_tasks_at_once(session: Any, call: Any) -> tuple[Any, BaseException]:
    """Run ``call()`` in two tasks at once on one session: one result, one refusal."""
    first, second = await asyncio.gather(call(), call(), return_exceptions=True)
    assert not isinstance(first, BaseException), first  # the first task is not disturbed
    assert isinstance(second, sqlops.SessionMisuseError), second
    assert "one AsyncSession used by two tasks at once" in str(second)
    return first, second


@pytest.mark.parametrize("method", ["get", "list", "count", "exists", "page", "stream"])
async def test_two_tasks_reading_through_one_session_are_refused(
    db: sqlops.Database, method: str
) -> None:
    # The fast routes use the session's connection without its methods: they hold the
    # one-task guard themselves, or asyncpg says "another operation is in progress" and
    # asyncmy waits forever on a protocol two statements interleaved in.
    await _seed(db)
    calls = {
        "get": lambda users: users.get(1),
        "list": lambda users: users.list(order_by="id"),
        "count": lambda users: users.count(),
        "exists": lambda users: users.exists(email="u1@x"),
        "page": lambda users: users.page(per_page=2),
        "stream": lambda users: _drain(users.stream(order_by="id", batch_size=2)),
    }
    async with db.transaction() as session:
        users = sqlops.Repository(User, session)
        await asyncio.wait_for(_two_tasks_at_once(session, lambda: calls[method](users)), 10)
        assert (await users.get_one(2)).email == "u1@x"  # and the session goes on working
        assert await users.count() == 3


async def _drain(stream: Any) -> list[Any]:
    return [obj async for obj in stream]


async def test_a_session_is_free_between_the_batches_of_its_stream(db: sqlops.Database) -> None:
    if db.dialect == "mysql":
        pytest.skip(
            "MariaDB: an unread unbuffered result blocks the session's connection until "
            "drained (the protocol's; SQLAlchemy warns) - docs/guide.md says so"
        )
    await _seed(db, 4)
    async with db.transaction() as session:
        users = sqlops.Repository(User, session)
        seen = []
        async for user in users.stream(order_by="id", batch_size=2):
            seen.append(user.email)
            if len(seen) == 1:  # another task, while this one is between two batches
                assert await asyncio.create_task(users.count()) == 4
        assert seen == ["u0@x", "u1@x", "u2@x", "u3@x"]


async def test_the_applications_own_session_shared_by_two_tasks_serves_both(
    db: sqlops.Database,
) -> None:
    # An AsyncSession of the application's own has no sqlops guard: on the ORM route
    # SQLAlchemy's adapter runs the two tasks' statements one after the other, and so
    # must the fast route (asyncpg said "another operation is in progress", asyncmy hung).
    await _seed(db)
    async with AsyncSession(db.engine) as session:
        await session.connection()  # SQLAlchemy refuses two tasks while it connects
        users = sqlops.Repository(User, session)
        gets = asyncio.gather(users.get(1), users.get(2), users.list(order_by="id"))
        one, two, listed = await asyncio.wait_for(gets, 10)
        assert (one.email, two.email) == ("u0@x", "u1@x")
        assert listed[:2] == [one, two]  # the identity map's objects, as on the ORM route
        counted = await asyncio.wait_for(asyncio.gather(users.count(), users.count()), 10)
        assert counted == [3, 3]


async def test_a_task_cancelled_inside_a_fast_read_leaves_the_session_to_others(
    db: sqlops.Database,
) -> None:
    # the guard a fast route holds is released however the statement ends
    await _seed(db)
    async with db.session() as session:
        users = sqlops.Repository(User, session)
        for _ in range(20):  # cancelled at whichever await the read has reached
            reading = asyncio.create_task(users.list(order_by="id"))
            await asyncio.sleep(0)
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
            await asyncio.create_task(session.rollback())  # another task: not refused
            assert await asyncio.create_task(users.count()) == 3
