"""A Database whose every session runs inside one outer transaction, rolled back at the end.

This is SQLAlchemy's "join a session into an external transaction" recipe, packaged so
that code taking a :class:`~sqlops.Database` (a standalone ``Repository(Model, db)``,
``db.transaction()``, ``db.run()``) can be tested without leaving anything behind::

    async with rolled_back(db) as test_db:
        await Repository(User, test_db).create(email="a@example.com")  # commits...
    # ...to a savepoint: the row is gone here

Each session joins the test connection with ``join_transaction_mode="create_savepoint"``:
its ``commit()`` releases a SAVEPOINT and its ``rollback()`` rolls back to one, so code
under test may commit, roll back and nest savepoints freely while the outer transaction,
which nobody but this module can end, is rolled back afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from sqlops import _guards, _psycopg, _translate
from sqlops._database import Database
from sqlops._transaction import shielded
from sqlops._url import safe_url

T = TypeVar("T")


class BoundDatabase(Database):
    """A :class:`Database` bound to one connection that is inside the test's transaction.

    It shares the engine of the Database it was made from and never disposes it.
    ``transaction(isolation=..., readonly=...)`` accepts both and ignores them: a
    transaction's isolation cannot change once it has started, and there are no replicas
    inside it. Every way the Database reaches the database (``session()``,
    ``transaction()``, ``run()``, the repository's session-free reads) ends in one of the
    methods overridden here, which all use the test connection.
    """

    connection: AsyncConnection

    @classmethod
    def bind(cls, parent: Database, connection: AsyncConnection) -> BoundDatabase:
        """Make a BoundDatabase with ``parent``'s settings, on ``connection``."""
        bound = cls.__new__(cls)
        bound.__dict__.update(parent.__dict__)  # url, engine, settings, whatever comes later
        bound.connection = connection
        bound._replicas = []
        bound._disposed = True  # the engine is the parent's to dispose
        bound._session_tracker = (
            _guards.SessionTracker() if parent._session_tracker is not None else None
        )
        maker = parent._sessionmaker
        kw = {**maker.kw, "bind": connection, "join_transaction_mode": "create_savepoint"}
        kw["sqlops_tracker"] = bound._session_tracker
        bound._sessionmaker = async_sessionmaker(class_=maker.class_, **kw)
        bound._lag = None  # one connection, no replicas: nothing to wait for
        if bound._telemetry is not None:  # report transactions like the parent does
            bound._telemetry.instrument_database(bound, pools=False)
        return bound

    def __repr__(self) -> str:
        return f"Database({safe_url(self.url)!r}, inside a rolled-back test transaction)"

    async def dispose(self) -> None:
        """Report sessions that were never closed; the engine is left alone."""
        if self._session_tracker is not None:
            self._session_tracker.report(repr(self))

    async def _begin(
        self, isolation: str | None, readonly: bool, *, enforce: bool = False
    ) -> AsyncSession:
        """A session on the test connection; the options cannot apply inside it."""
        return self._sessionmaker()

    async def _read_session(self) -> AsyncSession:
        return self._sessionmaker()

    async def _core_read(self, use: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Session-free reads run on the test connection too, so they see its writes."""
        return await use(self.connection)

    async def _driver_read(self, use: Callable[[Any], Awaitable[T]]) -> T:
        raw = await self.connection.get_raw_connection()
        return await use(
            _psycopg.face(raw.driver_connection, self.connection.dialect, in_transaction=True)
        )

    async def create_all(self, metadata: MetaData) -> None:
        """Create the tables on the test connection (rolled back too, except on MySQL)."""
        _translate.register_metadata(metadata)
        await self.connection.run_sync(metadata.create_all)

    async def drop_all(self, metadata: MetaData) -> None:
        """Drop the tables on the test connection."""
        await self.connection.run_sync(metadata.drop_all)


@asynccontextmanager
async def rolled_back(db: Database) -> AsyncIterator[BoundDatabase]:
    """Yield a Database on one connection whose transaction is rolled back on exit.

    Everything done through it, commits included, disappears afterwards. On exit,
    sessions opened through it and never closed are reported (when ``db`` was made
    with ``leaked_sessions="warn"``).
    """
    async with db.engine.connect() as connection:
        transaction = await connection.begin()
        bound = BoundDatabase.bind(db, connection)
        try:
            yield bound
        finally:
            try:
                await bound.dispose()
            finally:
                if transaction.is_active:
                    await shielded(transaction.rollback())
