"""Statement naming behind a real PgBouncer in transaction mode, with few server connections.

Every repository path runs at once from several client connections (two async apps and a
sync twin on psycopg) through a PgBouncer with one or two server connections, so each
transaction lands where another client's just ran. With ``pooler="pgbouncer"`` nothing
may fail and no named prepared statement may be left on a server connection: there,
another process's asyncpg counting ``__asyncpg_stmt_1__`` up again would collide with it.
``pg_prepared_statements`` is per backend, so it is read through PgBouncer itself, on
each of its server connections in turn.

``max_prepared_statements`` is 0 (PgBouncer 1.18 has no such setting and behaves so) or
100 (needs PgBouncer >= 1.21: set ``SQLOPS_PGBOUNCER`` to such a binary, else skipped);
with 100, asyncpg's and psycopg's own named statements work too, without the setting.
"""

from __future__ import annotations

import asyncio
import decimal
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

import sqlops
from sqlops import Repository, sync
from tests.models import Account, Base, Counter, Event, Membership, Team, User
from tests.ops._pgbouncer import PgBouncer, carries_prepared, find_binary, version
from tests.styles.models import SQLMODEL, STYLES, Style, sqlmodel_tables

pytestmark = pytest.mark.postgresql

ROUNDS = 3  # the same shapes again: templates reused, statements re-made
TASKS = 6
# (pooler, driver caches re-enabled by the caller): what the app sets.
SETUPS = {
    "pooler": ("pgbouncer", False),
    "pooler+caches": ("pgbouncer", True),  # PgBouncer >= 1.21 carrying named statements
    "no pooler": (None, False),  # asyncpg's and psycopg's defaults: named, cached
}
CACHES = {"asyncpg": {"statement_cache_size": 100}, "psycopg": {"prepare_threshold": 5}}


@pytest.fixture(scope="module")
def server(servers: Any) -> URL:
    url: URL = servers.url("postgresql")
    return url


@pytest.fixture(scope="module")
def binary() -> str:
    found = find_binary()
    if found is None:
        message = "pgbouncer is not installed (apt-get install pgbouncer)"
        if os.environ.get("SQLOPS_REQUIRE_PGBOUNCER") == "1":
            pytest.fail(f"{message}, but SQLOPS_REQUIRE_PGBOUNCER=1")
        pytest.skip(message)
    return found


# (server connections, max_prepared_statements) x what the app sets; named statements
# behind max_prepared_statements = 0 fail by design (the control tests show it).
CASES = [
    *(((size, 0), "pooler") for size in (1, 2)),
    *(((size, 100), setup) for size in (1, 2) for setup in SETUPS),
]


@pytest.fixture(scope="module")
def bouncer(request: pytest.FixtureRequest, binary: str, server: URL) -> Iterator[PgBouncer]:
    """Transaction mode; (server connections, ``max_prepared_statements``)."""
    pool_size, carried = request.param
    if carried and not carries_prepared(binary):
        found = ".".join(map(str, version(binary)))
        pytest.skip(f"max_prepared_statements needs PgBouncer >= 1.21, found {found}")
    started = PgBouncer.start(
        binary, "transaction", server, pool_size=pool_size, max_prepared_statements=carried
    )
    yield started
    started.stop()


@pytest.fixture
async def schema(server: URL) -> AsyncIterator[None]:
    """The tables, made and dropped straight on the server (DDL is not under test)."""
    async with sqlops.Database(server) as direct:
        await direct.drop_all(Base.metadata)
        await direct.create_all(Base.metadata)
        yield
        await direct.drop_all(Base.metadata)


@pytest.mark.parametrize(("bouncer", "setup"), CASES, indirect=["bouncer"], ids=str)
async def test_every_path_at_once_leaves_no_named_statement(
    bouncer: PgBouncer, server: URL, schema: None, setup: str
) -> None:
    pooler, caches = SETUPS[setup]
    url = bouncer.url(server)
    apps = [
        sqlops.Database(url, pooler=pooler, pool_size=3, engine_options=_options("asyncpg", caches))
        for _ in range(2)
    ]
    twin = sync.Database(
        url.set(drivername="postgresql+psycopg"),
        pooler=pooler,
        pool_size=2,
        engine_options=_options("psycopg", caches),
    )
    try:
        await asyncio.gather(
            *(workload(apps[i % 2], f"a{i}") for i in range(TASKS)),
            asyncio.to_thread(sync_workload, twin, "s0"),
        )
        assert await Repository(User, apps[0]).count() == 12 * (TASKS + 1)
    finally:
        for app in apps:
            await app.dispose()
        twin.dispose()
    left = await named_statements(bouncer, server)
    assert len(left) == bouncer.pool_size  # each server connection was read
    if pooler is not None and not caches:
        assert left == {pid: [] for pid in left}


@pytest.mark.parametrize("bouncer", [(2, 0)], indirect=True, ids=str)
@pytest.mark.parametrize("style", STYLES, ids=lambda style: style.name)
async def test_every_model_style_through_shared_server_connections(
    bouncer: PgBouncer, server: URL, style: Style
) -> None:
    """Templates learn each style's result types (UUID, composite keys, quoted names) once."""
    tables = sqlmodel_tables() if style is SQLMODEL else style.tables
    async with sqlops.Database(server) as direct, direct.engine.begin() as conn:
        if style.schema:
            await conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {style.schema}")
        await conn.run_sync(lambda c: style.metadata.drop_all(c, tables=tables))
        await conn.run_sync(lambda c: style.metadata.create_all(c, tables=tables))
    apps = [sqlops.Database(bouncer.url(server), pooler="pgbouncer", pool_size=2) for _ in "ab"]
    try:
        await asyncio.gather(*(style_workload(apps[i % 2], style, f"s{i}") for i in range(4)))
    finally:
        for app in apps:
            await app.dispose()
        async with sqlops.Database(server) as direct, direct.engine.begin() as conn:
            await conn.run_sync(lambda c: style.metadata.drop_all(c, tables=tables))
    left = await named_statements(bouncer, server)
    assert left == {pid: [] for pid in left} and len(left) == 2


async def style_workload(db: sqlops.Database, style: Style, tag: str) -> None:
    """One style's reads (standalone and injected), stream, COPY, upsert and update."""
    mine: dict[str, Any] = {style.tag: tag}
    repo, required = Repository(style.model, db), style.required
    assert await repo.create_many([style.row(tag, i) for i in range(6)]) == 6
    names = [f"n{i:04d}" for i in range(6)]
    pk = style.pk((await repo.list(order_by=required, **mine))[0])
    for turn in range(ROUNDS):
        assert getattr(await repo.get(pk), required) == "n0000"
        page = await repo.page(page=2, per_page=4, order_by=required, **mine)
        assert (page.total, [getattr(o, required) for o in page.items]) == (6, names[4:])
        assert await repo.count(**mine) == 6 and await repo.exists(**mine)
        streamed = [o async for o in repo.stream(order_by=required, batch_size=4, **mine)]
        assert [getattr(o, required) for o in streamed] == names
        async with db.transaction() as session:
            injected = Repository(style.model, session)
            assert await injected.count(**mine) == 6
            assert getattr(await injected.get(pk), style.counter) in (0, 100 + turn - 1)
            await injected.update(pk, **{style.counter: 100 + turn})
        assert getattr(await repo.get_one(pk), style.counter) == 100 + turn
        if style.upsert:
            row = style.row(tag, 5)
            upserted = await repo.upsert({**row, required: "n0005"}, conflict=list(style.unique))
            assert getattr(upserted, required) == "n0005"


def _options(driver: str, caches: bool) -> dict[str, Any]:
    return {"connect_args": CACHES[driver]} if caches else {}


async def workload(db: sqlops.Database, tag: str) -> None:
    """Every read shape (templates: standalone and injected), stream, COPY, upserts, updates."""
    users = Repository(User, db)
    rows = [{"email": f"{tag}-{i}@x.io", "name": tag, "age": i} for i in range(12)]
    assert await users.create_many(rows) == 12  # COPY
    first = await users.first(name=tag, order_by="age")
    assert first is not None and first.age == 0
    team = await Repository(Team, db).create(name=tag)
    seats = Repository(Membership, db)  # composite primary key
    await seats.create(team_id=team.id, user_id=first.id, seat=2)
    account = await Repository(Account, db).create(owner=tag, amount=decimal.Decimal("12.34"))
    event = await Repository(Event, db).create(name=tag)  # UUID primary key
    counters = Repository(Counter, db)
    for turn in range(ROUNDS):
        found = await users.get(first.id)
        assert found is not None and found.email == f"{tag}-0@x.io"
        assert (await users.get_one(first.id)).name == tag
        listed = await users.list(name=tag, age__ge=3, order_by="-age", limit=3)
        assert [u.age for u in listed] == [11, 10, 9]
        page = await users.page(name=tag, page=2, per_page=5, order_by="age")
        assert (page.total, [u.age for u in page.items]) == (12, [5, 6, 7, 8, 9])
        assert await users.count(name=tag, age__lt=6) == 6
        assert await users.exists(name=tag, age=11)
        assert not await users.exists(name=tag, age=99)
        streamed = [u.age async for u in users.stream(name=tag, order_by="age", batch_size=5)]
        assert streamed == list(range(12))  # a server-side cursor, in its own transaction
        assert (await seats.get((team.id, first.id))).seat == 2  # type: ignore[union-attr]
        assert (await Repository(Account, db).get(account.id)).amount == decimal.Decimal("12.34")  # type: ignore[union-attr]
        assert (await Repository(Event, db).get(event.id)).name == tag  # type: ignore[union-attr]
        async with db.transaction() as session:  # injected: templates on the session's connection
            mine = Repository(User, session)
            assert (await mine.get(first.id)).name == tag  # type: ignore[union-attr]
            assert await mine.count(name=tag) == 12
            assert len((await mine.page(name=tag, per_page=4)).items) == 4
            assert await mine.exists(name=tag, age=turn)
            await mine.update(first.id, nickname=f"{tag}-{turn}")
        assert (await users.get(first.id)).nickname == f"{tag}-{turn}"  # type: ignore[union-attr]
        await counters.upsert({"key": tag, "hits": turn})
        assert (
            await counters.upsert_many([{"key": tag, "hits": 10}, {"key": f"{tag}+", "hits": 1}])
            == 2
        )
        assert await counters.increment(tag, "hits") == 11
    assert await users.update_where(values={"active": False}, name=tag, age__gt=9) == 2
    assert await users.count(name=tag, active=False) == 2


def sync_workload(db: sync.Database, tag: str) -> None:
    """The sync twin's share: psycopg templates, stream, bulk writes, upserts, updates."""
    users = sync.Repository(User, db)
    rows = [{"email": f"{tag}-{i}@x.io", "name": tag, "age": i} for i in range(12)]
    assert users.create_many(rows) == 12
    first = users.first(name=tag, order_by="age")
    assert first is not None
    counters = sync.Repository(Counter, db)
    for turn in range(ROUNDS * 3):  # past psycopg's prepare_threshold (5) without the pooler
        assert users.get(first.id).email == f"{tag}-0@x.io"  # type: ignore[union-attr]
        assert [u.age for u in users.list(name=tag, age__ge=10, order_by="age")] == [10, 11]
        page = users.page(name=tag, page=3, per_page=5, order_by="age")
        assert (page.total, [u.age for u in page.items]) == (12, [10, 11])
        assert users.count(name=tag) == 12 and users.exists(name=tag, age=turn % 12)
        assert [u.age for u in users.stream(name=tag, order_by="age", batch_size=5)] == list(
            range(12)
        )
        with db.transaction() as session:
            mine = sync.Repository(User, session)
            assert mine.count(name=tag, age__lt=4) == 4
            mine.update(first.id, nickname=f"{tag}-{turn}")
        counters.upsert({"key": tag, "hits": turn})
    assert users.get(first.id).nickname == f"{tag}-{ROUNDS * 3 - 1}"  # type: ignore[union-attr]


async def named_statements(bouncer: PgBouncer, server: URL) -> dict[int, list[str]]:
    """The named statements on each of PgBouncer's server connections, by backend pid.

    Read with the unnamed statement (asyncpg with its cache off), one transaction per
    sample: PgBouncer's round robin hands each to the next server connection.
    """
    conn = await asyncpg.connect(
        host="127.0.0.1",
        port=bouncer.port,
        user=server.username,
        database=server.database,
        statement_cache_size=0,
    )
    seen: dict[int, list[str]] = {}
    try:
        for _ in range(8):
            row = await conn.fetchrow(
                "SELECT pg_backend_pid(), array(SELECT name FROM pg_prepared_statements"
                " ORDER BY name)"
            )
            seen[row[0]] = list(row[1])
    finally:
        await conn.close()
    return seen


async def test_psycopg_without_the_pooler_setting_breaks_after_its_prepare_threshold(
    binary: str, server: URL, schema: None
) -> None:
    """The control for the sync twin: psycopg names a statement run 5 times (``_pg3_0``)."""
    bouncer = PgBouncer.start(binary, "transaction", server, pool_size=2)
    url = bouncer.url(server).set(drivername="postgresql+psycopg")
    plain, told = sync.Database(url, pool_size=1), sync.Database(url, pooler="pgbouncer")
    try:
        sync.Repository(User, told).create(email="p@x.io", name="p")
        with told.session() as one, told.session() as two:  # open both server connections
            one.execute(text("SELECT 1")), two.execute(text("SELECT 1"))
        for _ in range(20):  # now over both, in turn
            told.ping()
            assert sync.Repository(User, told).count(name="p") == 1
        with pytest.raises(sqlops.PreparedStatementError, match=r"_pg3_\d+.*does not exist"):
            for _ in range(20):
                sync.Repository(User, plain).count(name="p")
    finally:
        plain.dispose()
        told.dispose()
        bouncer.stop()


def test_the_sync_twin_takes_the_pooler_setting(server: URL) -> None:
    url = server.set(drivername="postgresql+psycopg")
    for db in (sync.Database(url, pooler="pgbouncer"), sync.Database(f"{url}?pooler=pgbouncer")):
        with db:
            assert db.pooler == "pgbouncer" and "pooler" not in db.url.query
            connection = db.engine.raw_connection()
            try:
                assert connection.driver_connection.prepare_threshold is None  # type: ignore[union-attr]
            finally:
                connection.close()
    with sync.Database(url) as db:
        assert db.pooler is None
    with pytest.raises(ValueError, match="for PostgreSQL"):
        sync.Database("sqlite://", pooler="pgbouncer")
