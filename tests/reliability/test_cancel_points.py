"""Cancel an operation at each of its await points in turn: nothing lost, nothing left open.

A request handler is cancelled when its client goes away or a timeout fires, at whatever
``await`` it happens to be suspended in: the pool checkout, BEGIN, a statement, COMMIT,
ROLLBACK, the return to the pool. Timing races (``sleep`` then ``cancel``) hit a few of
those points by luck; this suite hits every one, deterministically: the operation runs
once per suspension point ``k`` and is cancelled exactly when it suspends for the k-th
time, until it completes before reaching ``k``.

After each cancellation the connection must be clean or discarded:
- the pool has every connection back,
- the server shows no session of ours idle in a transaction (PostgreSQL),
- the next write on the same pool (``pool_size=1``: the very same connection) is durable,
  which is what failed when a cancelled BEGIN left asyncpg inside an orphaned transaction
  (later "commits" released a savepoint and vanished at dispose),
- another connection can still write (SQLite: no write lock left behind),
- the cancelled operation's own writes are all there or none of them.

The models are a plain ``DeclarativeBase`` without naming convention, as users write them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from typing import Any

import pytest
from sqlalchemy import String, func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import sqlops
from tests.reliability._figures import record

MAX_STEPS = 400  # far more suspension points than any operation below has
SEED = 1  # the primary key of the one row the schema starts with


class Base(DeclarativeBase):
    pass


class Tag(Base):
    __tablename__ = "cancel_tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    hits: Mapped[int] = mapped_column(default=0)


class CancelAt:
    """Await ``coro`` and cancel the running task when it suspends for the ``k``-th time.

    Every ``await`` that really suspends (a socket read, a worker-thread hand-off, a
    greenlet bridging an IO call) passes a future up through ``__await__``; counting
    them numbers the await points. ``task.cancel()`` called there cancels exactly the
    future that point waits on, as a real cancellation arriving at that moment would.
    """

    def __init__(self, coro: Coroutine[Any, Any, Any], k: int) -> None:
        self.coro, self.k, self.reached = coro, k, 0

    def __await__(self) -> Generator[Any, Any, Any]:
        inner = self.coro.__await__()
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            try:
                yielded = inner.send(sent) if thrown is None else inner.throw(thrown)
            except StopIteration as stop:
                return stop.value
            self.reached += 1
            if self.reached == self.k:
                task = asyncio.current_task()
                assert task is not None
                task.cancel()
            sent, thrown = None, None
            try:
                sent = yield yielded
            except BaseException as exc:  # delivered into the operation at its await point
                thrown = exc


Op = Callable[[sqlops.Database, str], Awaitable[object]]


async def _create(db: sqlops.Database, tag: str) -> object:
    return await sqlops.Repository(Tag, db).create(name=tag)


async def _create_many(db: sqlops.Database, tag: str) -> object:
    rows = [{"name": f"{tag}#{i}"} for i in range(3)]
    return await sqlops.Repository(Tag, db).create_many(rows)


async def _create_many_rendered(db: sqlops.Database, tag: str) -> object:
    # a SQL expression in a row: those rows go through the unit of work, the rest COPY
    rows = [{"name": f"{tag}#0"}, {"name": func.trim(f" {tag}#1 "), "hits": func.abs(-2)}]
    rows.append({"name": f"{tag}#2", "hits": 1})
    return await sqlops.Repository(Tag, db).create_many(rows)


async def _upsert_many_rendered(db: sqlops.Database, tag: str) -> object:
    rows = [{"name": f"{tag}#{i}", "hits": func.abs(-i)} for i in range(2)]
    return await sqlops.Repository(Tag, db).upsert_many(rows, conflict=["name"])


async def _upsert(db: sqlops.Database, tag: str) -> object:
    return await sqlops.Repository(Tag, db).upsert({"id": SEED, "name": "seed", "hits": 5})


async def _upsert_many(db: sqlops.Database, tag: str) -> object:
    rows = [{"name": f"{tag}#{i}", "hits": i} for i in range(2)]
    return await sqlops.Repository(Tag, db).upsert_many(rows, conflict=["name"])


async def _update(db: sqlops.Database, tag: str) -> object:
    return await sqlops.Repository(Tag, db).update(SEED, hits=7)


async def _increment(db: sqlops.Database, tag: str) -> object:
    return await sqlops.Repository(Tag, db).increment(SEED, "hits")


async def _get_or_create(db: sqlops.Database, tag: str) -> object:
    return await sqlops.Repository(Tag, db).get_or_create(name=tag)


async def _delete_where(db: sqlops.Database, tag: str) -> object:
    return await sqlops.Repository(Tag, db).delete_where(name=f"{tag}-absent")


async def _get(db: sqlops.Database, tag: str) -> object:
    return await sqlops.Repository(Tag, db).get(SEED)


async def _list(db: sqlops.Database, tag: str) -> object:
    return await sqlops.Repository(Tag, db).list(name__startswith="seed")


async def _page(db: sqlops.Database, tag: str) -> object:
    return await sqlops.Repository(Tag, db).page(per_page=5)


async def _cursor_page(db: sqlops.Database, tag: str) -> object:
    return await sqlops.Repository(Tag, db).cursor_page(limit=5)


async def _stream(db: sqlops.Database, tag: str) -> object:
    return [t async for t in sqlops.Repository(Tag, db).stream(batch_size=2)]


async def _reads_then_write(db: sqlops.Database, tag: str) -> object:
    """MariaDB: the reads leave the connection in autocommit; the write's checkout turns
    it off (``SET autocommit``), an await point of its own, and the next read back on."""
    tags = sqlops.Repository(Tag, db)
    await tags.get(SEED)
    await tags.create(name=f"{tag}#1")
    return await tags.list(name__startswith="seed")


async def _stream_by_one(db: sqlops.Database, tag: str) -> object:
    # batch_size=1: a second fetch after the row, so a cancel lands between two fetches
    return [t async for t in sqlops.Repository(Tag, db).stream(batch_size=1)]


async def _stream_stopped_early(db: sqlops.Database, tag: str) -> object:
    async with contextlib.aclosing(sqlops.Repository(Tag, db).stream(batch_size=1)) as rows:
        async for row in rows:
            return row  # the cursor is not read to its end: it is closed here
    return None


async def _tx_stream(db: sqlops.Database, tag: str) -> object:
    async with db.transaction() as s:  # injected: the session's connection, its cursor
        tags = sqlops.Repository(Tag, s)
        async with contextlib.aclosing(tags.stream(batch_size=1)) as rows:
            first = await anext(rows)  # the cursor is not read to its end: closed here
        return [t async for t in tags.stream(batch_size=1)], first


async def _tx_get(db: sqlops.Database, tag: str) -> object:
    async with db.transaction() as s:  # injected: the fast route on the session's connection
        return await sqlops.Repository(Tag, s).get(SEED)


async def _tx_update(db: sqlops.Database, tag: str) -> object:
    async with db.transaction() as s:  # injected: the fast UPDATE, held row then a fresh one
        tags = sqlops.Repository(Tag, s)
        await tags.get(SEED)
        await tags.update(SEED, hits=11)
        fresh = await tags.create(name=f"{tag}#0")
        s.expunge(fresh)
        return await tags.update(fresh.id, hits=3)


async def _session_reads(db: sqlops.Database, tag: str) -> object:
    async with db.session() as s:  # a lazily begun session: the read sends BEGIN itself
        tags = sqlops.Repository(Tag, s)
        return [await tags.list(name__startswith="seed"), await tags.page(per_page=5)]


async def _transaction(db: sqlops.Database, tag: str) -> object:
    async with db.transaction() as s:
        tags = sqlops.Repository(Tag, s)
        await tags.create(name=f"{tag}#0")
        await tags.create(name=f"{tag}#1")
        return await tags.count()


async def _savepoint(db: sqlops.Database, tag: str) -> object:
    async with db.transaction() as s:
        s.add(Tag(name=f"{tag}#0"))
        async with db.savepoint(s):
            s.add(Tag(name=f"{tag}#1"))
    return None


async def _session_commit(db: sqlops.Database, tag: str) -> object:
    async with db.session() as s:
        s.add_all([Tag(name=f"{tag}#0"), Tag(name=f"{tag}#1")])
        await s.commit()
    return None


async def _run(db: sqlops.Database, tag: str) -> object:
    async def work(s: Any) -> int:
        tags = sqlops.Repository(Tag, s)
        await tags.create(name=f"{tag}#0")
        await tags.create(name=f"{tag}#1")
        return await tags.count()

    return await db.run(work)


async def _readonly(db: sqlops.Database, tag: str) -> object:
    async with db.transaction(readonly=True) as s:
        return (await s.execute(select(func.count()).select_from(Tag))).scalar_one()


OPS: dict[str, Op] = {
    "create": _create,
    "create_many": _create_many,
    "create_many, a SQL expression": _create_many_rendered,
    "upsert": _upsert,
    "upsert_many": _upsert_many,
    "upsert_many, a SQL expression": _upsert_many_rendered,
    "update": _update,
    "increment": _increment,
    "get_or_create": _get_or_create,
    "delete_where": _delete_where,
    "get": _get,
    "list": _list,
    "page": _page,
    "cursor_page": _cursor_page,
    "stream": _stream,
    "reads then write": _reads_then_write,
    "stream by one": _stream_by_one,
    "stream stopped early": _stream_stopped_early,
    "injected stream": _tx_stream,
    "injected get": _tx_get,
    "injected update": _tx_update,
    "injected reads": _session_reads,
    "transaction": _transaction,
    "savepoint": _savepoint,
    "session commit": _session_commit,
    "run": _run,
    "readonly transaction": _readonly,
}
# How many rows named "{tag}#…" an operation writes (all of them land, or none).
WRITES = {"create_many": 3, "upsert_many": 2, "create_many, a SQL expression": 3,
          "upsert_many, a SQL expression": 2, "transaction": 2, "savepoint": 2,
          "session commit": 2, "run": 2, "injected update": 1, "reads then write": 1}  # fmt: skip


@pytest.fixture
async def schema(url: Any) -> AsyncIterator[Any]:
    """The ``cancel_tags`` table with one seed row (``SEED``), dropped afterwards."""
    async with sqlops.Database(url) as admin:
        await admin.drop_all(Base.metadata)
        await admin.create_all(Base.metadata)
        seed = await sqlops.Repository(Tag, admin).create(name="seed")
        assert seed.id == SEED
        try:
            yield url
        finally:
            await admin.drop_all(Base.metadata)


async def _idle_in_transaction(db: sqlops.Database) -> int:
    """Our sessions idling in a transaction, once discarded connections have gone.

    A connection discarded on cancellation is closed at once, but its server process
    reports "idle in transaction" until it reads the close: wait up to 2 s for that; a
    session really left open stays, and is counted.
    """
    deadline = time.monotonic() + 2.0
    while True:
        async with db.engine.connect() as conn:
            found = await conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND starts_with(state, 'idle in transaction') AND pid <> pg_backend_pid()"
            )
            count = int(found.scalar_one())
        if count == 0 or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.02)


async def _written(other: sqlops.Database, tag: str) -> int:
    async with other.session() as s:
        found = await s.execute(
            select(func.count()).select_from(Tag).where(Tag.name.like(f"{tag}%"))
        )
        return int(found.scalar_one())


async def _cancel_at(op: Op, db: sqlops.Database, tag: str, k: int) -> tuple[bool, bool]:
    """Run ``op`` cancelled at its k-th suspension: (cancelled, reached k)."""
    stepper = CancelAt(op(db, tag), k)  # type: ignore[arg-type]

    async def drive() -> object:
        return await stepper

    task = asyncio.ensure_future(drive())
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise  # the test itself was cancelled
        return True, True
    return False, stepper.reached >= k


async def _check_clean(db: sqlops.Database, other: sqlops.Database, backend: str, k: int) -> None:
    where = f"cancelled at await point {k}"
    assert db.engine.pool.checkedout() == 0, f"{where}: a connection was not returned"  # type: ignore[attr-defined]
    if backend == "postgresql":
        assert await _idle_in_transaction(other) == 0, f"{where}: a session idles in a transaction"
    if backend == "mysql":  # a standalone read's autocommit never outlives its checkout
        async with db.transaction() as s:
            autocommit = (await s.execute(text("SELECT @@autocommit"))).scalar()
        assert autocommit == 0, f"{where}: a transaction ran in autocommit"
    kept = f"kept-{k}"
    await sqlops.Repository(Tag, db).create(name=kept)  # the same, only, pooled connection
    await db.dispose()
    assert await _written(other, kept) == 1, f"{where}: a later commit on its connection vanished"
    await sqlops.Repository(Tag, other).create(name=f"other-{k}")  # no write lock left behind
    await sqlops.Repository(Tag, other).delete_where(Tag.id != SEED)  # the next k starts alike


@pytest.mark.slow
@pytest.mark.parametrize("name", list(OPS))
async def test_cancelled_at_every_await_point(
    schema: Any, backend: str, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    op = OPS[name]
    points = 0
    async with sqlops.Database(schema) as other:
        for k in range(1, MAX_STEPS + 1):
            tag = f"op{k}"
            db = sqlops.Database(schema, pool_size=1, max_overflow=0)
            try:
                cancelled, reached = await _cancel_at(op, db, tag, k)
                if not cancelled:
                    assert not reached, f"cancellation at await point {k} was swallowed"
                    break
                points = k
                if name in WRITES:
                    assert await _written(other, f"{tag}#") in (0, WRITES[name]), (
                        f"cancelled at await point {k}: a transaction landed half-applied"
                    )
                await _check_clean(db, other, backend, k)
            finally:
                await db.dispose()
        else:
            pytest.fail(f"{name} did not complete within {MAX_STEPS} await points")
    assert points >= 1, f"{name} never suspended: nothing was tested"
    gc.collect()  # an abandoned future logs "exception was never retrieved" when collected
    await asyncio.sleep(0)
    noise = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert not noise, f"the event loop logged errors: {noise[:3]}"
    record(f"cancellation points of {name} ({backend})", str(points))


async def test_the_stepper_numbers_every_suspension() -> None:
    """CancelAt counts one point per real suspension and cancels exactly there."""
    reached: list[int] = []

    async def three_sleeps() -> None:
        for i in range(3):
            reached.append(i)
            await asyncio.sleep(0)

    counter = CancelAt(three_sleeps(), 10**6)
    await counter
    assert counter.reached == 3
    reached.clear()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.ensure_future(_await(CancelAt(three_sleeps(), 2)))
    assert reached == [0, 1]


async def _await(stepper: CancelAt) -> object:
    return await stepper
