"""Every feature through a real PgBouncer, in transaction and in session pooling mode.

PgBouncer 1.18 (Debian 12) keeps no prepared statement across transactions, and its
``server_round_robin`` setting (on here) hands each transaction to the next server
connection, so a named statement left behind by one transaction is missing in the next.
``pooler="pgbouncer"`` must make every path work regardless.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

import sqlops
from sqlops import Repository
from sqlops.testing import rolled_back
from tests.models import Account, Base, Counter, Note, Post, User
from tests.ops._pgbouncer import PgBouncer, find_binary

pytestmark = pytest.mark.postgresql


@pytest.fixture(scope="module")
def server(servers: Any) -> URL:
    """The throwaway database on the shared PostgreSQL."""
    return servers.url("postgresql")


@pytest.fixture(scope="module", params=["transaction", "session"])
def bouncer(request: pytest.FixtureRequest, server: URL) -> Iterator[PgBouncer]:
    binary = find_binary()
    if binary is None:
        _skip_or_fail()
    # Session mode pins a server connection per client one: room for the app's pool.
    size = 2 if request.param == "transaction" else 12
    started = PgBouncer.start(binary, request.param, server, pool_size=size)
    yield started
    started.stop()


@pytest.fixture
async def db(bouncer: PgBouncer, server: URL) -> AsyncIterator[sqlops.Database]:
    database = sqlops.Database(bouncer.url(server), pooler="pgbouncer", pool_size=6)
    await database.drop_all(Base.metadata)
    await database.create_all(Base.metadata)
    try:
        yield database
    finally:
        await database.drop_all(Base.metadata)
        await database.dispose()


async def test_repository_reads_and_writes(db: sqlops.Database) -> None:
    users = Repository(User, db)
    created = await users.create_many(
        [{"email": f"u{i}@x.io", "name": f"user{i % 3}", "age": i} for i in range(30)]
    )  # COPY
    assert created == 30
    ada = await users.create(email="ada@x.io", name="Ada")
    for _ in range(3):  # the same shapes again: a template or a statement reused
        assert (await users.get(ada.id)).name == "Ada"  # type: ignore[union-attr]
        assert (await users.get_one(ada.id)).email == "ada@x.io"
        assert (await users.first(name="user1", order_by="-age")).age == 28  # type: ignore[union-attr]
        assert (await users.one(email="u5@x.io")).age == 5
        assert len(await users.list(name="user0", limit=4)) == 4
        assert await users.count(name__in=["user1", "user2"]) == 20
        assert await users.exists(age__gt=25)
        page = await users.page(name="user2", page=2, per_page=3)
        assert (page.total, len(page.items)) == (10, 3)
    first = await users.cursor_page(limit=20, order_by="age")
    rest = await users.cursor_page(after=first.next_cursor, limit=20, order_by="age")
    assert len(first.items) + len(rest.items) == 31
    assert [u.age async for u in users.stream(name="user0", batch_size=4)][:2] == [0, 3]
    assert (await users.update(ada.id, nickname="A")).nickname == "A"
    assert await users.update_where(values={"active": False}, name="user1") == 10
    assert await users.delete_where(name="user2") == 10
    assert await users.delete(ada.id)


async def test_upserts_counters_get_or_create_and_soft_delete(db: sqlops.Database) -> None:
    counters = Repository(Counter, db)
    await counters.upsert({"key": "a", "hits": 1})
    await counters.upsert({"key": "a", "hits": 5})
    assert await counters.upsert_many([{"key": "a", "hits": 6}, {"key": "b", "hits": 1}]) == 2
    assert await counters.increment("a", "hits", 2) == 8
    accounts = Repository(Account, db)
    _, created = await accounts.get_or_create(owner="o1")  # unique lookup: a savepoint
    assert created
    users = Repository(User, db)
    _, created = await users.get_or_create({"email": "g@x.io"}, name="Gi")  # advisory lock
    _, again = await users.get_or_create({"email": "g2@x.io"}, name="Gi")
    assert created and not again
    notes = Repository(Note, db)
    note = await notes.create(body="n")
    assert await notes.soft_delete(note.id)
    assert await notes.get(note.id) is None
    assert await notes.restore(note.id)


async def test_transactions_savepoints_runs_and_read_only(db: sqlops.Database) -> None:
    async with db.transaction() as session:
        users = Repository(User, session)
        author = await users.create(email="t@x.io", name="Tx")
        with contextlib.suppress(sqlops.UniqueViolation):
            async with db.savepoint(session):
                await users.create(email="t@x.io", name="dup")
        await Repository(Post, session).create(title="p", author_id=author.id)
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await Repository(User, session).create(email="gone@x.io", name="G")
            raise RuntimeError("roll back")
    assert await Repository(User, db).count() == 1

    async def bump(session: Any) -> int:
        return await Repository(Counter, session).increment("c", "hits")

    await Repository(Counter, db).create(key="c")
    # 8 writers on one hot row: the default 3 retries are not enough (docs/reliability.md)
    bumps = [db.run(bump, isolation="SERIALIZABLE", retries=30) for _ in range(8)]
    results = await asyncio.gather(*bumps)
    assert sorted(results) == list(range(1, 9))
    with pytest.raises(sqlops.ReadOnlyTransactionError):
        async with db.transaction(readonly=True) as session:
            await Repository(User, session).create(email="ro@x.io", name="R")


async def test_concurrent_calls_over_few_server_connections(db: sqlops.Database) -> None:
    users = Repository(User, db)
    await users.create_many([{"email": f"c{i}@x.io", "name": "c"} for i in range(20)])
    for _ in range(4):
        found = await asyncio.gather(
            *(users.get(i) for i in range(1, 21)),
            *(users.count(name="c") for _ in range(6)),
            *(users.page(name="c", per_page=5) for _ in range(6)),
        )
        assert all(f is not None for f in found[:20])
        assert found[20:26] == [20] * 6


async def test_the_test_kit_rolls_back_through_pgbouncer(db: sqlops.Database) -> None:
    async with rolled_back(db) as test_db:
        users = Repository(User, test_db)
        await users.create(email="k@x.io", name="Kit")
        async with test_db.transaction() as session:
            await Repository(User, session).create(email="k2@x.io", name="Kit")
        assert await users.count(name="Kit") == 2
    assert await Repository(User, db).count() == 0


async def test_without_the_pooler_setting_transaction_mode_breaks(server: URL) -> None:
    binary = find_binary()
    if binary is None:
        _skip_or_fail()
    bouncer = PgBouncer.start(binary, "transaction", server, pool_size=2)
    direct = sqlops.Database(server)
    db = sqlops.Database(bouncer.url(server), pool_size=6)  # asyncpg's statement cache on
    try:
        await direct.create_all(Base.metadata)
        await Repository(User, direct).create(email="b@x.io", name="b")
        users = Repository(User, db)
        # Six clients over two server connections: a client's next transaction often
        # lands on the other one, where its cached statement was never prepared.
        # ... a typed error with the one setting to change, not asyncpg's raw one.
        with pytest.raises(
            sqlops.PreparedStatementError,
            match=r"prepared statement .* does not exist .*pooler=\"pgbouncer\"",
        ):
            for _ in range(50):
                await asyncio.gather(*(users.list(name="b", limit=2) for _ in range(12)))
    finally:
        await db.dispose()
        await direct.drop_all(Base.metadata)
        await direct.dispose()
        bouncer.stop()


@pytest.mark.parametrize("pooler", [None, "pgbouncer"])
async def test_no_named_prepared_statement_outlives_its_transaction(
    server: URL, pooler: str | None
) -> None:
    # Straight to PostgreSQL, where a session's statements can be listed; one connection.
    db = sqlops.Database(server, pooler=pooler, pool_size=1, max_overflow=0)
    try:
        await db.create_all(Base.metadata)
        users = Repository(User, db)
        await users.create(email="p@x.io", name="P")
        await users.get(1)
        await users.list(name="P")
        await users.page(name="P")
        async with db.session() as session:
            listed = await session.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
    finally:
        await db.drop_all(Base.metadata)
        await db.dispose()
    if pooler is None:
        assert listed > 0  # asyncpg's default: named, cached statements (the control)
    else:
        assert listed == 0


def test_the_url_option_and_bad_values() -> None:
    db = sqlops.Database("postgresql://u@127.0.0.1:6432/app?pooler=pgbouncer")
    assert db.pooler == "pgbouncer"
    assert "pooler" not in db.url.query
    assert db.engine.url.query == {}
    assert sqlops.Database("postgresql://u@127.0.0.1/app").pooler is None
    with pytest.raises(ValueError, match="pooler must be one of"):
        sqlops.Database("postgresql://u@127.0.0.1/app", pooler="pgpool")
    with pytest.raises(ValueError, match="for PostgreSQL"):
        sqlops.Database("sqlite+aiosqlite://", pooler="pgbouncer")
    assert make_url(str(db.url)).port == 6432


def _skip_or_fail() -> None:
    """No pgbouncer binary: a skip, or a failure when SQLOPS_REQUIRE_PGBOUNCER=1 (CI)."""
    message = "pgbouncer is not installed (apt-get install pgbouncer)"
    if os.environ.get("SQLOPS_REQUIRE_PGBOUNCER") == "1":
        pytest.fail(f"{message}, but SQLOPS_REQUIRE_PGBOUNCER=1")
    pytest.skip(message)


async def test_a_missing_or_doubled_prepared_statement_is_a_typed_error(server: URL) -> None:
    async with sqlops.Database(server) as db, db.session() as session:
        with pytest.raises(sqlops.PreparedStatementError, match=r"does not exist \(26000\)"):
            await session.execute(text("EXECUTE sqlops_never_prepared"))
        await session.rollback()
        await session.execute(text("PREPARE sqlops_twice AS SELECT 1"))
        with pytest.raises(sqlops.PreparedStatementError, match=r"already exists \(42P05\)"):
            await session.execute(text("PREPARE sqlops_twice AS SELECT 1"))
