"""One test per assumption that sqlops' cancellation safety makes about driver internals.

If a new aiosqlite, asyncpg or SQLAlchemy release changes one of these, this file fails
first and says which; the code then falls back to doing nothing (aiosqlite) or to
SQLAlchemy's lazy BEGIN (asyncpg), which is correct but slower to recover.
"""

from __future__ import annotations

import queue
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

import sqlops
from sqlops import _aiosqlite


async def _adapter(db: sqlops.Database) -> Any:
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        return raw.dbapi_connection


@pytest.mark.sqlite
async def test_aiosqlite_adapter_exposes_its_worker_queue_and_sqlite_connection(
    tmp_path: Path,
) -> None:
    async with sqlops.Database(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}") as db:
        adapter = await _adapter(db)
        aio = adapter._connection  # SQLAlchemy's adapter wraps aiosqlite's Connection
        assert isinstance(aio._tx, queue.SimpleQueue)  # the worker thread's call queue
        assert isinstance(aio._connection, sqlite3.Connection)
        done = _aiosqlite.queue_rollback(adapter)
        assert done is not None and done.wait(5)  # the worker ran it
        _aiosqlite.interrupt(adapter)  # idle: a no-op, and it must not break the next call
        async with db.engine.connect() as conn:
            assert (await conn.exec_driver_sql("SELECT 1")).scalar_one() == 1


@pytest.mark.sqlite
async def test_invalidate_fires_before_the_connection_is_closed(tmp_path: Path) -> None:
    """The rollback is queued while the aiosqlite connection is still open."""
    async with sqlops.Database(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}") as db:
        seen: list[bool] = []

        @event.listens_for(db.engine.sync_engine, "invalidate")
        def _open_then(dbapi_connection: Any, record: Any, exc: Any) -> None:
            seen.append(dbapi_connection._connection._connection is not None)

        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
            await conn.invalidate()
        assert seen == [True]


def test_queue_rollback_ignores_other_drivers() -> None:
    assert _aiosqlite.queue_rollback(object()) is None
    _aiosqlite.interrupt(object())  # nothing to interrupt: no error


@pytest.fixture
def pg_url(servers: Any) -> Any:
    return servers.url("postgresql")  # sync: it may create the throwaway database


@pytest.mark.postgresql
async def test_asyncpg_adapter_tracks_its_transaction_after_begin(pg_url: Any) -> None:
    """begin_now relies on ``_start_transaction`` and ``_transaction`` of the adapter."""
    async with sqlops.Database(pg_url) as db, db.engine.connect() as conn:
        if db.engine.dialect.driver != "asyncpg":
            pytest.skip("asyncpg's adapter only (begin_now does nothing on other drivers)")
        raw = await conn.get_raw_connection()
        adapter: Any = raw.dbapi_connection
        assert adapter._transaction is None
        await adapter._start_transaction()
        assert adapter._transaction is not None
        assert raw.driver_connection.is_in_transaction()
        await conn.rollback()
