"""A connection goes back to the pool with no transaction open, and no ROLLBACK it did not need.

A session ends its transaction (COMMIT, or ROLLBACK at close) and then closes its
connection; the pool's reset-on-return would then send a second ROLLBACK with nothing to
end — on MariaDB a round trip in three for a ``get`` in ``db.transaction()``. sqlops skips
it only when SQLAlchemy's own COMMIT or ROLLBACK was the last thing the connection did
(:func:`sqlops._autocommit.reset_only_if_needed`). These tests pin both halves: the round
trips saved, and nothing left open when something did happen after the COMMIT (a read, a
BEGIN of the application's own), on the next checkout of the same server connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.util import greenlet_spawn

import sqlops
from tests.models import User


@pytest.fixture
async def one(db: sqlops.Database, url: URL | str) -> AsyncIterator[sqlops.Database]:
    """A Database with one pooled connection: every checkout is the same server session.

    ``db`` has created the schema (and, on the sync API's run, made ``sqlops.Database``
    the twin's).
    """
    async with _database(url, pool_size=1, max_overflow=0) as database:
        yield database


@pytest.fixture
async def other(db: sqlops.Database, url: URL | str) -> AsyncIterator[sqlops.Database]:
    """A second Database on the same database: another server session, for the writer."""
    async with _database(url) as database:
        yield database


@contextlib.asynccontextmanager
async def _database(url: URL | str, **options: Any) -> AsyncIterator[sqlops.Database]:
    database = sqlops.Database(url, **options)
    try:
        yield database
    finally:
        await database.dispose()


async def _rollbacks(db: sqlops.Database) -> int:
    """ROLLBACK statements this server session has run (MariaDB), before this read's own."""
    async with db.session() as session:
        row = (await session.execute(text("SHOW SESSION STATUS LIKE 'Com_rollback'"))).one()
    return int(row[1])


async def _after_a_commit(db: sqlops.Database, then: Callable[[Any], None]) -> None:
    """A Core connection runs a statement and COMMITs; then ``then(its DBAPI connection)``."""

    def run(engine: Any) -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            conn.commit()
            then(conn.connection.dbapi_connection)

    await greenlet_spawn(run, db.engine.sync_engine)


def _mariadb_only(backend: str, db: sqlops.Database | None = None) -> None:
    if backend != "mysql":
        pytest.skip("the pool's extra ROLLBACK is a round trip on MariaDB only")
    if db is not None and db.driver not in ("asyncmy", "pymysql"):
        pytest.skip("the reset that skips it is installed for asyncmy and PyMySQL")


async def test_a_committed_transaction_goes_back_without_a_rollback(
    one: sqlops.Database, backend: str
) -> None:
    _mariadb_only(backend, one)
    users = sqlops.Repository(User, one)
    created = await users.create(email="a@x", name="a")
    before = await _rollbacks(one)
    for _ in range(3):
        async with one.transaction() as session:
            assert await sqlops.Repository(User, session).get(created.id) is not None
        async with one.transaction() as session:
            await sqlops.Repository(User, session).update(created.id, name="b")
    # the status read's own session ends with one ROLLBACK (it read); the six committed
    # transactions add none
    assert await _rollbacks(one) - before == 1


async def test_a_read_session_rolls_back_once(one: sqlops.Database, backend: str) -> None:
    _mariadb_only(backend, one)
    created = await sqlops.Repository(User, one).create(email="a@x", name="a")
    before = await _rollbacks(one)
    for _ in range(3):
        async with one.session() as session:
            assert await sqlops.Repository(User, session).get(created.id) is not None
    assert await _rollbacks(one) - before == 1 + 3  # one each, not two


async def test_a_read_after_the_commit_leaves_no_snapshot_behind(
    one: sqlops.Database, other: sqlops.Database
) -> None:
    users = sqlops.Repository(User, one)
    first = await users.create(email="a@x", name="a")
    second = await users.create(email="b@x", name="b")
    async with one.session() as session:
        mine = sqlops.Repository(User, session)
        await mine.update(first.id, name="a2")
        await session.commit()
        assert (await mine.get(second.id)).name == "b"  # a new snapshot, after the COMMIT
    await sqlops.Repository(User, other).update(second.id, name="b2")
    async with one.session() as session:
        # the same server session: a snapshot left open would still say "b"
        assert (await sqlops.Repository(User, session).get(second.id)).name == "b2"


async def test_a_rolled_back_transaction_leaves_nothing_open(
    one: sqlops.Database, other: sqlops.Database
) -> None:
    users = sqlops.Repository(User, one)
    created = await users.create(email="a@x", name="a")
    with pytest.raises(RuntimeError):
        async with one.transaction() as session:
            await sqlops.Repository(User, session).update(created.id, name="lost")
            raise RuntimeError("give up")
    await sqlops.Repository(User, other).update(created.id, name="b2")  # no lock in the way
    assert (await users.get(created.id)).name == "b2"


async def test_a_begin_of_the_applications_own_after_commit_is_rolled_back(
    one: sqlops.Database, other: sqlops.Database, backend: str
) -> None:
    """After SQLAlchemy's COMMIT the application BEGINs on the DBAPI connection itself,
    writes, and pings (so no result set is the last reply): the pool must still roll back."""
    _mariadb_only(backend, one)
    users = sqlops.Repository(User, one)
    created = await users.create(email="a@x", name="a")

    def behind_sqlalchemys_back(dbapi: Any) -> None:
        cursor = dbapi.cursor()
        cursor.execute("BEGIN")
        cursor.execute(f"UPDATE users SET name = 'raw' WHERE id = {created.id}")
        cursor.close()
        dbapi.ping(False)

    await _after_a_commit(one, behind_sqlalchemys_back)
    async with one.session() as session:  # the same server session
        assert (await session.execute(text("SELECT @@in_transaction"))).scalar() == 0
    assert (await sqlops.Repository(User, other).get(created.id)).name == "a"


async def test_a_read_of_the_applications_own_after_commit_leaves_no_snapshot(
    one: sqlops.Database, other: sqlops.Database, backend: str
) -> None:
    """After SQLAlchemy's COMMIT the application SELECTs on the DBAPI connection itself
    (on MariaDB that opens a snapshot, with the in-transaction flag clear)."""
    users = sqlops.Repository(User, one)
    created = await users.create(email="a@x", name="a")

    def behind_sqlalchemys_back(dbapi: Any) -> None:
        cursor = dbapi.cursor()
        cursor.execute(f"SELECT name FROM users WHERE id = {created.id}")
        assert cursor.fetchall()[0][0] == "a"
        cursor.close()

    await _after_a_commit(one, behind_sqlalchemys_back)
    await sqlops.Repository(User, other).update(created.id, name="b")
    async with one.session() as session:  # the same server session: a snapshot says "a"
        assert (await sqlops.Repository(User, session).get(created.id)).name == "b"


async def test_the_applications_own_pool_reset_is_kept(
    db: sqlops.Database, url: URL | str, backend: str
) -> None:
    """``pool_reset_on_return`` in ``engine_options``: SQLAlchemy's reset, as asked."""
    _mariadb_only(backend)
    own = sqlops.Database(
        url, pool_size=1, max_overflow=0, engine_options={"pool_reset_on_return": "rollback"}
    )
    try:
        created = await sqlops.Repository(User, own).create(email="a@x", name="a")
        before = await _rollbacks(own)
        for _ in range(3):
            async with own.transaction() as session:
                assert await sqlops.Repository(User, session).get(created.id) is not None
        # the status read's session: its own ROLLBACK and the pool's; then one per transaction
        assert await _rollbacks(own) - before == 2 + 3
    finally:
        await own.dispose()
