"""Database: sessions, transactions, savepoints, retries, read-only, cancellation."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession

import sqlops
from sqlops import _transaction
from sqlops.testing import count_queries
from tests.models import Account, Team, User


async def test_transaction_commits_on_success(db: sqlops.Database) -> None:
    async with db.transaction() as s:
        s.add(Team(name="a"))
    assert await sqlops.Repository(Team, db).count() == 1


async def test_transaction_that_raises_leaves_no_row(db: sqlops.Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as s:
            s.add(Team(name="a"))
            await s.flush()
            raise RuntimeError("boom")
    assert await sqlops.Repository(Team, db).count() == 0


async def test_session_does_not_commit_for_you(db: sqlops.Database) -> None:
    async with db.session() as s:
        s.add(Team(name="a"))
        await s.flush()
    assert await sqlops.Repository(Team, db).count() == 0
    async with db.session() as s:
        s.add(Team(name="b"))
        await s.commit()
        team = (await s.scalars(select(Team))).one()
    assert team.name == "b"  # expire_on_commit=False: still readable after commit


async def test_savepoint_rolls_back_only_itself(db: sqlops.Database) -> None:
    async with db.transaction() as s:
        s.add(Team(name="outer"))
        with pytest.raises(ValueError):
            async with db.savepoint(s):
                s.add(Team(name="inner"))
                await s.flush()
                raise ValueError
        s.add(Team(name="after"))
    names = {t.name for t in await sqlops.Repository(Team, db).list()}
    assert names == {"outer", "after"}


async def test_create_and_drop_all(url: str) -> None:
    from tests.models import Base

    async with sqlops.Database(url) as db:
        await db.create_all(Base.metadata)
        await db.ping()
        async with db.engine.connect() as conn:
            assert await conn.run_sync(lambda c: inspect(c).has_table("teams"))
        await db.drop_all(Base.metadata)
        async with db.engine.connect() as conn:
            assert not await conn.run_sync(lambda c: inspect(c).has_table("teams"))


async def test_isolation_level_is_applied(db: sqlops.Database, backend: str) -> None:
    queries = {
        "postgresql": "SHOW transaction_isolation",
        "mysql": "SELECT @@tx_isolation",  # MariaDB < 11.1 spelling
        "sqlite": "PRAGMA read_uncommitted",
    }
    async with db.transaction(isolation="SERIALIZABLE") as s:
        level = (await s.execute(text(queries[backend]))).scalar()
    expected = {"postgresql": "serializable", "mysql": "SERIALIZABLE", "sqlite": 0}
    assert level == expected[backend]
    async with db.transaction() as s:  # the level does not leak into the pool
        level = (await s.execute(text(queries[backend]))).scalar()
    assert level != "serializable" or backend == "sqlite"


async def test_readonly_transaction_refuses_writes(db: sqlops.Database) -> None:
    with pytest.raises(sqlops.ReadOnlyTransactionError, match="write refused") as caught:
        async with db.transaction(readonly=True) as s:
            assert await s.scalar(select(func.count()).select_from(Team)) == 0  # reads work
            s.add(Team(name="nope"))
            await s.flush()
    assert caught.value.__cause__ is not None
    assert await sqlops.Repository(Team, db).count() == 0
    with count_queries(db) as q:  # enforcing it adds no statement that listeners see
        async with db.transaction(readonly=True) as s:
            await s.scalar(select(func.count()).select_from(Team))
    assert q.count == 1, q.statements


async def test_readonly_transaction_gives_back_a_writable_connection(
    db: sqlops.Database, url: Any
) -> None:
    # one pooled connection: the write transactions reuse the read-only one's connection
    single = sqlops.Database(url, pool_size=1, max_overflow=0)
    try:
        teams = sqlops.Repository(Team, single)
        for i in range(3):
            async with single.transaction(readonly=True) as s:
                await s.scalar(select(func.count()).select_from(Team))
            async with single.transaction() as s:
                s.add(Team(name=f"t{i}"))
            await teams.create(name=f"r{i}")
        with pytest.raises(sqlops.ReadOnlyTransactionError):
            async with single.transaction(readonly=True) as s:
                await s.execute(text("DELETE FROM teams"))
        await teams.update_where(Team.name == "t0", values={"name": "u0"})
        assert await teams.count() == 6
        assert await teams.exists(name="u0")
    finally:
        await single.dispose()


# ----------------------------------------------------------------------------- run()


async def _transfer(s: AsyncSession, source: int, target: int, amount: int, gate: Any) -> None:
    rows = (await s.scalars(select(Account).order_by(Account.id))).all()
    by_id = {a.id: a for a in rows}
    await gate()
    by_id[source].balance -= amount
    by_id[target].balance += amount
    await s.flush()


async def test_run_retries_a_real_conflict(db: sqlops.Database, backend: str) -> None:
    """Two transfers that overlap conflict; run() retries the loser and both land."""
    accounts = sqlops.Repository(Account, db)
    a = await accounts.create(owner="a", balance=100)
    b = await accounts.create(owner="b", balance=100)
    arrived = 0
    both = asyncio.Event()

    async def gate() -> None:
        if backend == "sqlite":
            return  # BEGIN IMMEDIATE: the second writer waits for the first, no overlap
        nonlocal arrived
        arrived += 1
        if arrived == 2:
            both.set()
        if arrived <= 2:  # first attempts wait for each other: a guaranteed overlap
            await asyncio.wait_for(both.wait(), 10)

    level = "SERIALIZABLE" if backend != "sqlite" else None
    before = _transaction.stats.conflicts
    await asyncio.gather(
        db.run(_transfer, a.id, b.id, 10, gate, isolation=level, retries=5),
        db.run(_transfer, b.id, a.id, 3, gate, isolation=level, retries=5),
    )
    balances = {x.owner: x.balance for x in await accounts.list()}
    assert balances == {"a": 93, "b": 107}
    if backend != "sqlite":  # SQLite serializes writers (BEGIN IMMEDIATE): no conflict
        assert _transaction.stats.conflicts > before


async def test_run_never_retries_constraint_violations(db: sqlops.Database) -> None:
    calls = 0

    async def insert_dup(s: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        s.add_all([Team(name="x"), Team(name="x")])
        await s.flush()

    with pytest.raises(sqlops.UniqueViolation):
        await db.run(insert_dup, retries=5)
    assert calls == 1


async def test_run_gives_up_with_transaction_conflict_error(db: sqlops.Database) -> None:
    calls = 0

    async def always_conflicts(s: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        s.add(Team(name=f"t{calls}"))
        await s.flush()
        raise sqlops.TransactionConflictError("simulated deadlock")

    with pytest.raises(sqlops.TransactionConflictError) as info:
        await db.run(always_conflicts, retries=2)
    assert calls == 3
    assert info.value.attempts == 3
    assert await sqlops.Repository(Team, db).count() == 0  # every attempt rolled back


async def test_run_returns_the_function_result(db: sqlops.Database) -> None:
    async def make(s: AsyncSession, name: str, *, suffix: str) -> int:
        team = Team(name=name + suffix)
        s.add(team)
        await s.flush()
        return team.id

    team_id = await db.run(make, "x", suffix="!")
    assert (await sqlops.Repository(Team, db).get_one(team_id)).name == "x!"


def test_backoff_is_capped_and_jittered() -> None:
    values = [_transaction.backoff(n) for n in range(1, 30) for _ in range(5)]
    assert all(0 <= v <= _transaction.BACKOFF_CAP for v in values)
    assert len(set(values)) > 10


# ----------------------------------------------------------------------------- cancellation


async def test_cancelled_transaction_leaves_nothing_behind(
    db: sqlops.Database, backend: str
) -> None:
    sleep = {
        "postgresql": "SELECT pg_sleep(5)",
        "mysql": "SELECT SLEEP(5)",
        "sqlite": None,
    }[backend]
    started = asyncio.Event()

    async def work() -> None:
        async with db.transaction() as s:
            s.add(Team(name="cancelled"))
            await s.flush()
            started.set()
            if sleep:
                await s.execute(text(sleep))
            else:
                await asyncio.sleep(5)

    task = asyncio.create_task(work())
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await sqlops.Repository(Team, db).count() == 0
    if backend == "postgresql":
        async with db.session() as s:
            idle = (
                await s.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND state = 'idle in transaction' AND pid <> pg_backend_pid()"
                    )
                )
            ).scalar()
        assert idle == 0
    await sqlops.Repository(Team, db).create(name="pool still works")


# ----------------------------------------------------------------------------- lazy loads


async def test_lazy_load_after_standalone_read_names_the_fix(db: sqlops.Database) -> None:
    team = await sqlops.Repository(Team, db).create(name="t")
    user = await sqlops.Repository(User, db).create(email="a@x", name="a", team_id=team.id)
    loaded = await sqlops.Repository(User, db).get_one(user.id)
    with pytest.raises(sqlops.LazyLoadError) as info:
        _ = loaded.team
    assert "User.team was not loaded" in str(info.value)
    assert "load=['team']" in str(info.value)
    with_team = await sqlops.Repository(User, db).get_one(user.id, load=["team"])
    assert with_team.team is not None and with_team.team.name == "t"


async def test_lazy_load_inside_async_session_names_the_fix(db: sqlops.Database) -> None:
    team = await sqlops.Repository(Team, db).create(name="t")
    await sqlops.Repository(User, db).create(email="a@x", name="a", team_id=team.id)
    async with db.session() as s:
        loaded = (await s.scalars(select(Team))).one()
        with pytest.raises(sqlops.LazyLoadError, match=r"Team\.members was not loaded"):
            _ = loaded.members
        # the explicit async form is allowed
        members = await loaded.awaitable_attrs.members
        assert [m.email for m in members] == ["a@x"]


async def test_lazy_load_error_is_also_the_sqlalchemy_error(db: sqlops.Database) -> None:
    from sqlalchemy.exc import MissingGreenlet
    from sqlalchemy.orm.exc import DetachedInstanceError

    team = await sqlops.Repository(Team, db).create(name="t")
    detached = await sqlops.Repository(Team, db).get_one(team.id)
    with pytest.raises(DetachedInstanceError):
        _ = detached.members
    async with db.session() as s:
        attached = await s.get(Team, team.id)
        assert attached is not None
        with pytest.raises(MissingGreenlet):
            _ = attached.members


# SQLAlchemy's own behaviour here leaks an un-awaited driver coroutine (asyncpg); the
# "raise" mode exists to stop before that IO is attempted.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_lazy_loads_allow_is_sqlalchemy_behaviour(url: str) -> None:
    from sqlalchemy.exc import MissingGreenlet, StatementError

    from tests.models import Base

    async with sqlops.Database(url, lazy_loads="allow") as db:
        await db.create_all(Base.metadata)
        try:
            await sqlops.Repository(Team, db).create(name="t")
            async with db.session() as s:
                team = (await s.scalars(select(Team))).one()
                # SQLAlchemy raises MissingGreenlet, wrapped in StatementError by some drivers
                with pytest.raises((MissingGreenlet, StatementError)) as info:
                    _ = team.members
                assert not isinstance(info.value, sqlops.LazyLoadError)
                assert "greenlet" in str(info.value)
                del info
            gc.collect()  # surface the leaked coroutine's warning here, where it is expected
        finally:
            await db.drop_all(Base.metadata)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_guards_leave_other_sessions_alone(db: sqlops.Database) -> None:
    """Sessions the application builds itself keep SQLAlchemy's own behaviour."""
    from sqlalchemy.exc import MissingGreenlet, StatementError
    from sqlalchemy.ext.asyncio import async_sessionmaker

    await sqlops.Repository(Team, db).create(name="t")
    theirs = async_sessionmaker(db.engine, expire_on_commit=False)
    async with theirs() as session:
        team = (await session.scalars(select(Team))).one()
        with pytest.raises((MissingGreenlet, StatementError)) as info:
            _ = team.members
        assert not isinstance(info.value, sqlops.LazyLoadError)
        del info
    gc.collect()  # SQLAlchemy's own path may leave an un-awaited driver coroutine


async def test_a_committed_transactions_session_is_closed_in_full(db: sqlops.Database) -> None:
    # closed without a greenlet hop once the commit ended the transaction: still detached,
    # the connection back in the pool, the session reported closed to the leak tracker
    pool = db.engine.sync_engine.pool
    async with db.transaction() as session:
        team = Team(name="t")
        session.add(team)
    assert inspect(team).detached
    assert pool.checkedout() == 0
    async with db.transaction() as session:
        again = await session.get(Team, team.id)
        assert again is not None and again is not team
    assert inspect(again).detached and not session.sync_session.identity_map
    async with db.session() as session:
        session.add(Team(name="u"))
        await session.commit()
    assert pool.checkedout() == 0
    assert await sqlops.Repository(Team, db).count() == 2


async def test_a_committed_transactions_session_is_not_reported_as_leaked(url: str) -> None:
    import warnings

    async with sqlops.Database(url, leaked_sessions="warn") as db:
        for _ in range(3):
            async with db.transaction() as session:
                await session.execute(text("SELECT 1"))
        assert db._session_tracker is not None and db._session_tracker.leaks() == []
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            await db.dispose()
