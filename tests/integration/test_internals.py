"""One test per SQLAlchemy internal the fast routes rely on (sqlops._internals).

They run on the newest SQLAlchemy (``make test``) and on the oldest supported pair,
Python 3.10 + SQLAlchemy 2.0 (``make test-compat``): an upgrade that moves one of these
names fails here, by name.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import String, event, inspect, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import object_session
from sqlalchemy.util import greenlet_spawn

import sqlops
from sqlops import _internals
from sqlops._modelinfo import model_info
from tests.models import User


async def _one_user(db: sqlops.Database) -> None:
    await sqlops.Repository(User, db).create(email="a@x", name="a")


def test_the_manager_internals_exist() -> None:
    assert _internals.available(inspect(User))


def test_identity_class_is_the_first_element_of_identity_keys() -> None:
    mapper = inspect(User)
    assert mapper.identity_key_from_primary_key([1])[0] is _internals.identity_class(mapper)


async def test_instance_builder_builds_what_the_loader_builds(db: sqlops.Database) -> None:
    await _one_user(db)
    info = model_info(User)
    keys = list(info.columns)
    columns = [info.column(k) for k in keys]
    build = _internals.instance_builder(info.mapper, keys, [keys.index("id")])
    async with db.session() as session:
        row = (await session.execute(select(*columns))).one()
        loaded = await session.get_one(User, 1)
        built = build(row)
    state = inspect(built)
    assert state.detached and state.key == inspect(loaded).key
    assert not state.modified and not state.expired_attributes
    assert {k: getattr(built, k) for k in keys} == {k: getattr(loaded, k) for k in keys}


async def test_make_persistent_enters_the_identity_map(db: sqlops.Database) -> None:
    await _one_user(db)
    info = model_info(User)
    keys = list(info.columns)
    build = _internals.instance_builder(info.mapper, keys, [keys.index("id")])
    async with db.transaction() as session:
        row = (await session.execute(select(*[info.column(k) for k in keys]))).one()
        obj = build(row)
        _internals.make_persistent(session.sync_session, inspect(obj))
        assert inspect(obj).persistent and object_session(obj) is session.sync_session
        assert await session.get(User, 1) is obj  # the identity map answers
        obj.name = "b"  # its loaded values are the committed state: this is a change
        assert inspect(obj).attrs.name.history.deleted == ["a"]
    async with db.session() as check:
        assert (await check.get_one(User, 1)).name == "b"


async def test_batch_builder_builds_what_instance_builder_builds(db: sqlops.Database) -> None:
    await _one_user(db)
    info = model_info(User)
    keys = list(info.columns)
    one = _internals.instance_builder(info.mapper, keys, [keys.index("id")])
    many = _internals.batch_builder(info.mapper, keys, [keys.index("id")])
    async with db.session() as session:
        rows = (await session.execute(select(*[info.column(k) for k in keys]))).all()
    (built,) = many(rows)
    expected = one(rows[0])
    state = inspect(built)
    assert state.detached and state.key == inspect(expected).key
    assert state.committed_state == {} and not state.expired_attributes
    assert {k: getattr(built, k) for k in keys} == {k: getattr(expected, k) for k in keys}


async def test_held_objects_and_make_all_persistent(db: sqlops.Database) -> None:
    await sqlops.Repository(User, db).create_many(
        [{"email": f"{i}@x", "name": str(i)} for i in range(3)]
    )
    info = model_info(User)
    keys = list(info.columns)
    build_all = _internals.batch_builder(info.mapper, keys, [keys.index("id")])
    async with db.transaction() as session:
        sync = session.sync_session
        held = await session.get_one(User, 2)
        rows = (await session.execute(select(*[info.column(k) for k in keys]))).all()
        built = build_all(rows)  # the states hold their objects weakly: keep them
        states = [inspect(obj) for obj in built]
        found = _internals.held_objects(sync, states)
        assert [(p, obj) for p, obj in found] == [(1, held)]  # the identity map's own
        states[1] = None  # type: ignore[call-overload]
        _internals.make_all_persistent(sync, states)
        first = built[0]
        assert inspect(first).persistent and object_session(first) is sync
        assert await session.get(User, 1) is first and await session.get(User, 2) is held
        first.name = "changed"  # its loaded values are the committed state
    async with db.session() as check:
        assert (await check.get_one(User, 1)).name == "changed"


async def test_an_asyncpg_portal_can_be_closed_before_its_end(db: sqlops.Database) -> None:
    if db.driver != "asyncpg":
        pytest.skip("asyncpg only")
    await sqlops.Repository(User, db).create_many(
        [{"email": f"{i}@x", "name": "n"} for i in range(3)]
    )
    async with db.session() as session:
        raw = await (await session.connection()).get_raw_connection()
        begin = _internals.asyncpg_pending_begin(raw.dbapi_connection)
        assert begin is not None
        await begin()
        driver = raw.driver_connection
        cursor = await driver.cursor("SELECT id FROM users")
        assert len(await cursor.fetch(1)) == 1
        named = "SELECT count(*) FROM pg_cursors WHERE name <> ''"
        assert await driver.fetchval(named) == 1
        await _internals.asyncpg_close_portal(cursor)
        assert await driver.fetchval(named) == 0
        await session.rollback()


async def test_has_pending_sees_new_changed_and_deleted_objects(db: sqlops.Database) -> None:
    await _one_user(db)
    async with db.transaction() as session:
        sync = session.sync_session
        user = await session.get_one(User, 1)
        assert not _internals.has_pending(sync)
        user.name = "c"
        assert _internals.has_pending(sync)
        await session.flush()
        assert not _internals.has_pending(sync)
        await session.delete(user)
        assert _internals.has_pending(sync)
        await session.flush()
        session.add(User(email="n@x", name="n"))
        assert _internals.has_pending(sync)


def test_type_processors(db: sqlops.Database) -> None:
    dialect = db.engine.sync_engine.dialect
    for type_ in (String(10), inspect(User).columns["role"].type):
        bind = _internals.bind_processor(type_, dialect)
        result = _internals.result_processor(type_, dialect, None)
        assert bind is None or callable(bind)
        assert result is None or callable(result)


async def test_asyncpg_adapter_defers_begin_to_the_first_statement(
    db: sqlops.Database,
) -> None:
    if db.driver != "asyncpg":
        pytest.skip("SQLAlchemy's asyncpg adapter only")
    async with db.session() as session:
        raw = await (await session.connection()).get_raw_connection()
        driver = raw.driver_connection
        begin = _internals.asyncpg_pending_begin(raw.dbapi_connection)
        assert begin is not None and not driver.is_in_transaction()
        await begin()
        assert driver.is_in_transaction()
        assert _internals.asyncpg_pending_begin(raw.dbapi_connection) is None
        await session.execute(update(User).values(name="z"))  # the adapter's own, inside it
        await session.rollback()
        assert not driver.is_in_transaction()


async def test_checkin_reset_tells_the_pool_the_transaction_is_over(db: sqlops.Database) -> None:
    """What lets a MariaDB read in autocommit skip the pool's ROLLBACK (sqlops._autocommit)."""
    seen: list[bool] = []

    def reset(dbapi_connection: Any, record: Any, state: Any) -> None:
        seen.append(state.transaction_was_reset)

    event.listen(db.engine.sync_engine, "reset", reset)
    try:
        fairy = await db.engine.raw_connection()
        await greenlet_spawn(_internals.checkin_reset, fairy)
        fairy = await db.engine.raw_connection()
        await greenlet_spawn(fairy.close)
    finally:
        event.remove(db.engine.sync_engine, "reset", reset)
    assert seen == [True, False]


async def test_asyncmy_closed_reads_the_protocol_state(db: sqlops.Database) -> None:
    if db.driver != "asyncmy":
        pytest.skip("asyncmy only")
    assert _internals.asyncmy_closed(object()) is None  # not asyncmy's: unknown
    fairy = await db.engine.raw_connection()
    try:
        driver = fairy.driver_connection
        assert _internals.asyncmy_closed(driver) is False
        async with db.engine.connect() as other:
            await other.exec_driver_sql(f"KILL CONNECTION {driver.thread_id()}")
        for _ in range(200):  # the FIN arrives when the loop reads the socket
            if _internals.asyncmy_closed(driver):
                break
            await asyncio.sleep(0.01)
        assert _internals.asyncmy_closed(driver) is True
    finally:
        await greenlet_spawn(fairy.invalidate)
        await greenlet_spawn(fairy.close)


def test_plain_onupdate_tells_zero_argument_functions_from_context_ones() -> None:
    from sqlalchemy import Column, Integer, MetaData, Table

    calls: list[object] = []

    def plain() -> int:
        return 7

    def with_context(ctx: object) -> int:
        calls.append(ctx)
        return 8

    table = Table(
        "t_onupdate",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("a", Integer, onupdate=plain),
        Column("b", Integer, onupdate=with_context),
        Column("c", Integer, onupdate=lambda: 9),
    )
    a = _internals.plain_onupdate(table.c.a.onupdate)
    assert a is not None and a() == 7
    c = _internals.plain_onupdate(table.c.c.onupdate)
    assert c is not None and c() == 9
    assert _internals.plain_onupdate(table.c.b.onupdate) is None and calls == []


async def test_reads_committed_follows_the_adapter_and_the_server_default(
    db: sqlops.Database, backend: str
) -> None:
    if db.driver != "asyncpg":
        pytest.skip("asyncpg's adapter")
    async with db.session() as session:
        conn = await session.connection()
        adapter = (await conn.get_raw_connection()).dbapi_connection
        assert conn.dialect.default_isolation_level == "READ COMMITTED"
        assert _internals.reads_committed(adapter, conn.dialect)
    async with db.session() as session:
        conn = await session.connection(execution_options={"isolation_level": "SERIALIZABLE"})
        adapter = (await conn.get_raw_connection()).dbapi_connection
        assert adapter.isolation_level == "serializable"
        assert not _internals.reads_committed(adapter, conn.dialect)


async def test_raw_connection_is_what_get_raw_connection_returns(db: sqlops.Database) -> None:
    async with db.engine.connect() as conn:
        assert await _internals.raw_connection(conn) is await conn.get_raw_connection()
        await conn.invalidate()
        revalidated = await _internals.raw_connection(conn)  # the greenlet path reconnects
        assert revalidated is await conn.get_raw_connection()


async def test_asyncpg_statement_cache_flag_follows_its_size(backend: str, url: Any) -> None:
    if backend != "postgresql" or "psycopg" in make_url(str(url)).drivername:
        pytest.skip("asyncpg only")
    for pooler, caches in ((None, True), ("pgbouncer", False)):
        db = sqlops.Database(url, pooler=pooler)
        try:
            async with db.engine.connect() as conn:
                driver = (await conn.get_raw_connection()).driver_connection
                assert _internals.asyncpg_caches_statements(driver) is caches
        finally:
            await db.dispose()


async def test_mysql_no_result_since_command_follows_the_last_reply(
    db: sqlops.Database, backend: str
) -> None:
    """What lets a committed MariaDB connection skip the pool's ROLLBACK (sqlops._autocommit)."""
    if backend != "mysql":
        pytest.skip("PyMySQL / asyncmy only")
    assert _internals.mysql_no_result_since_command(object()) is False  # unknown: roll back
    async with db.engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        await conn.execute(select(User.id))
        assert _internals.mysql_no_result_since_command(driver) is False
        await conn.commit()
        assert _internals.mysql_no_result_since_command(driver) is True
        await conn.execute(select(User.id))
        assert _internals.mysql_no_result_since_command(driver) is False
        await conn.rollback()
        assert _internals.mysql_no_result_since_command(driver) is True


async def test_held_connection_is_what_session_connection_returns(
    db: sqlops.Database,
) -> None:
    mapper = inspect(User)
    async with db.session() as session:
        sync = session.sync_session
        bind = sync.get_bind(mapper)
        if sync.get_transaction() is None:  # lazy: nothing held yet, the real call connects
            assert _internals.held_connection(sync, bind) is None
        conn = await session.connection(bind_arguments={"mapper": mapper})
        assert _internals.held_connection(sync, bind) is conn.sync_connection
        async with session.begin_nested():  # a savepoint holds its parent's connection
            found = _internals.held_connection(sync, bind)
            assert found in (None, conn.sync_connection)
            assert await session.connection(bind_arguments={"mapper": mapper}) is conn
        await session.rollback()
        assert _internals.held_connection(sync, bind) is None  # the transaction ended
    async with AsyncSession(db.engine) as session, session.begin():  # the application's own
        sync = session.sync_session
        conn = await session.connection(bind_arguments={"mapper": mapper})
        assert _internals.held_connection(sync, sync.get_bind(mapper)) is conn.sync_connection


async def test_held_connection_refuses_an_aborted_transaction(db: sqlops.Database) -> None:
    # a failed flush leaves the SessionTransaction inactive: the real call raises there
    await _one_user(db)
    mapper = inspect(User)
    async with db.session() as session:
        await session.connection(bind_arguments={"mapper": mapper})
        session.add(User(email="a@x", name="dup"))
        with pytest.raises(sqlops.SqlopsError):
            await session.flush()
        sync = session.sync_session
        assert _internals.held_connection(sync, sync.get_bind(mapper)) is None
        await session.rollback()


async def test_execute_mutex_is_the_lock_the_adapter_runs_statements_under(
    db: sqlops.Database,
) -> None:
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        mutex = _internals.execute_mutex(raw.dbapi_connection)
        if db.driver == "psycopg":
            pytest.skip("SQLAlchemy's psycopg adapter runs statements under psycopg's own lock")
        if mutex is None and db.dialect == "sqlite":
            # SQLAlchemy 2.0's aiosqlite adapter has none: aiosqlite itself runs one call
            # at a time on its thread, so a shared session's statements queue there
            pytest.skip("no adapter lock (SQLAlchemy 2.0's aiosqlite adapter)")
        assert isinstance(mutex, asyncio.Lock)
        async with mutex:  # held: the adapter's next statement waits for it
            pending = asyncio.ensure_future(conn.exec_driver_sql("SELECT 1"))
            await asyncio.sleep(0.05)
            assert not pending.done()
        assert (await pending).scalar() == 1


async def test_holds_no_connection_once_the_transaction_has_ended(db: sqlops.Database) -> None:
    # Session.close()'s IO is ending its transactions: with none left it is in-memory work
    await _one_user(db)
    pool = db.engine.sync_engine.pool
    async with db.session() as session:
        sync = session.sync_session
        await session.connection()
        assert not _internals.holds_no_connection(sync)
        user = await session.get(User, 1)
        await session.commit()
        assert _internals.holds_no_connection(sync)
        assert pool.checkedout() == 0  # the commit gave the connection back
        assert user in session  # close() still has its in-memory part to do
        session.add(User(email="b@x", name="dup-of-nothing"))
        await session.flush()  # autobegins a new transaction
        assert not _internals.holds_no_connection(sync)
        await session.rollback()
    async with db.session() as session:  # a failed flush leaves an inactive transaction
        await _one_user_again(session)
        assert not _internals.holds_no_connection(session.sync_session)
        await session.rollback()


async def _one_user_again(session: AsyncSession) -> None:
    session.add(User(email="a@x", name="dup"))
    with pytest.raises(sqlops.SqlopsError):
        await session.flush()


async def test_pool_signature_counts_what_the_pools_fast_lane_would_skip(
    db: sqlops.Database,
) -> None:
    pool = db.engine.sync_engine.pool
    before = _internals.pool_signature(pool)
    assert before is not None and before[0] is pool._pre_ping

    def hook(*args: Any) -> None:
        pass

    for name in ("checkout", "checkin", "reset"):
        event.listen(db.engine.sync_engine, name, hook)
        assert _internals.pool_signature(pool) != before, name
        event.remove(db.engine.sync_engine, name, hook)
        assert _internals.pool_signature(pool) == before, name
    memory = sqlops.Database("sqlite+aiosqlite:///:memory:")
    try:
        assert _internals.pool_signature(memory.engine.sync_engine.pool) is None  # StaticPool
    finally:
        await memory.dispose()


async def test_take_idle_takes_a_ready_record_and_puts_back_a_stale_one(
    db: sqlops.Database,
) -> None:
    await _one_user(db)
    await sqlops.Repository(User, db).get(1)
    pool = db.engine.sync_engine.pool
    idle = pool.checkedin()
    record = _internals.take_idle(pool)
    assert record is not None and record.dbapi_connection is not None
    assert (pool.checkedin(), pool.checkedout()) == (idle - 1, 1)
    _internals.return_idle(pool, record)
    assert (pool.checkedin(), pool.checkedout()) == (idle, 0)
    _internals.invalidate_older(pool, RuntimeError("lost"))
    assert pool._invalidate_time >= record.starttime
    assert _internals.take_idle(pool) is None  # due for replacement: left to the checkout
    assert (pool.checkedin(), pool.checkedout()) == (idle, 0)
    assert await sqlops.Repository(User, db).get(1) is not None  # and replaced there
