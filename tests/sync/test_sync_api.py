"""What only the sync API has: URLs, generated methods, iterators, cursors shared with async."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

import sqlops
from sqlops import sync
from sqlops._runtime import drive
from sqlops._url import resolve_sync_url
from sqlops.sync._copy import PsycopgCopy
from sqlops.sync._repository import public_methods
from tests.models import Base, Counter, Team, User

from .conftest import sync_url


@pytest.mark.parametrize(
    ("given", "resolved"),
    [
        ("postgresql://u@h/d", "postgresql+psycopg"),
        ("postgres://u@h/d", "postgresql+psycopg"),
        ("mysql://u@h/d", "mysql+pymysql"),
        ("mariadb://u@h/d", "mariadb+pymysql"),
        ("sqlite:///x.db", "sqlite"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg"),
        ("sqlite+pysqlite:///x.db", "sqlite+pysqlite"),
    ],
)
def test_plain_urls_get_sync_drivers(given: str, resolved: str) -> None:
    assert resolve_sync_url(given).drivername == resolved


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ("postgresql+asyncpg://u@h/d", "postgresql+psycopg://"),
        ("mysql+asyncmy://u@h/d", "mysql+pymysql://"),
        ("mysql+aiomysql://u@h/d", "mysql+pymysql://"),
        ("sqlite+aiosqlite:///x.db", "sqlite://"),
        ("postgresql+pg8000://u@h/d", "postgresql+psycopg://"),
    ],
)
def test_async_drivers_are_refused_naming_the_sync_one(given: str, named: str) -> None:
    with pytest.raises(sync.AsyncDriverError) as info:
        sync.Database(given)
    assert named in str(info.value)
    assert isinstance(info.value, sqlops.SqlopsError) and isinstance(info.value, ValueError)


def test_the_async_api_still_refuses_sync_drivers() -> None:
    with pytest.raises(sqlops.SyncDriverError, match=r"mysql\+asyncmy"):
        sqlops.Database("mysql+pymysql://u@h/d")


def test_default_url_is_the_embedded_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    with sync.Database() as db:
        assert (db.dialect, db.driver) == ("sqlite", "pysqlite")
        db.create_all(Base.metadata)
        assert sync.Repository(Team, db).create(name="t").id == 1
    assert (tmp_path / "sqlops.db").exists()


def test_pool_pre_ping_is_honoured(sync_db: sync.Database, url: URL | str) -> None:
    with sync.Database(sync_url(url), pool_pre_ping=True) as db:
        assert db.engine.pool._pre_ping is True
        db.ping()


def test_every_async_method_has_a_sync_twin() -> None:
    for name, method in public_methods().items():
        twin = getattr(sync.Repository, name)
        assert twin.__wrapped__ is method
        assert inspect.signature(twin) == inspect.signature(method)
    assert {"get", "page", "cursor_page", "stream", "upsert_many", "increment"} <= set(
        public_methods()
    )


def test_a_repository_needs_a_sync_bind(sync_db: sync.Database, url: URL | str) -> None:
    with pytest.raises(TypeError, match=r"sqlops\.sync\.Database or a Session"):
        sync.Repository(User, sqlops.Database(url))  # type: ignore[arg-type]


def test_drive_refuses_a_coroutine_that_waits_for_asyncio() -> None:
    with pytest.raises(RuntimeError, match="tried to wait for asyncio"):
        drive(asyncio.sleep(0))


def test_stream_is_an_iterator_that_releases_its_transaction(sync_db: sync.Database) -> None:
    teams = sync.Repository(Team, sync_db)
    teams.create_many([{"name": f"t{i}"} for i in range(25)])
    rows = teams.stream(batch_size=10, order_by="name")
    assert next(rows).name == "t0"
    rows.close()  # an early stop ends the read transaction: writers go on
    teams.create(name="after")
    assert [t.name for t in teams.stream(batch_size=7)][-1] == "after"


def test_lazy_loads_raise_as_in_the_async_api(sync_db: sync.Database) -> None:
    team = sync.Repository(Team, sync_db).create(name="t")
    sync.Repository(User, sync_db).create(email="a@x", name="a", team_id=team.id)
    loaded = sync.Repository(Team, sync_db).get_one(team.id)
    with pytest.raises(sqlops.LazyLoadError, match=r"Team.members"):
        _ = loaded.members
    eager = sync.Repository(Team, sync_db).get_one(team.id, load=["members"])
    assert [u.email for u in eager.members] == ["a@x"]


def test_injected_session_only_flushes(sync_db: sync.Database) -> None:
    with sync_db.session() as session:
        teams = sync.Repository(Team, session)
        teams.create(name="kept back")
        assert teams.count() == 1
        session.rollback()
    assert sync.Repository(Team, sync_db).count() == 0
    with sync_db.transaction() as session:
        sync.Repository(Team, session).create(name="a")
        sync.Repository(Counter, session).create(key="k")
    assert sync.Repository(Team, sync_db).count() == 1
    assert sync.Repository(Counter, sync_db).get_one("k").hits == 0


async def test_cursors_work_in_either_api(sync_db: sync.Database, url: URL | str) -> None:
    secret = "a shared secret"
    with sync.Database(sync_url(url), cursor_secret=secret) as blocking:
        sync_teams = sync.Repository(Team, blocking)
        sync_teams.create_many([{"name": f"t{i:02}"} for i in range(7)])
        async with sqlops.Database(url, cursor_secret=secret) as db:
            async_teams = sqlops.Repository(Team, db)
            first = await async_teams.cursor_page(limit=3, order_by="-name")
            second = sync_teams.cursor_page(after=first.next_cursor, limit=3, order_by="-name")
            assert [t.name for t in second.items] == ["t03", "t02", "t01"]
            third = await async_teams.cursor_page(
                after=second.next_cursor, limit=3, order_by="-name"
            )
            assert [t.name for t in third.items] == ["t00"] and third.next_cursor is None


def test_create_many_uses_copy_on_postgresql(
    sync_db: sync.Database, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    calls: list[int] = []
    real = PsycopgCopy.copy_records_to_table

    async def counted(self: PsycopgCopy, *args: Any, **kwargs: Any) -> None:
        calls.append(1)
        await real(self, *args, **kwargs)

    monkeypatch.setattr(PsycopgCopy, "copy_records_to_table", counted)
    teams = sync.Repository(Team, sync_db)
    assert teams.create_many({"name": f"t{i}"} for i in range(2500)) == 2500
    assert calls and teams.count() == 2500
    with pytest.raises(sqlops.UniqueViolation) as info:
        teams.create_many([{"name": "t1"}])
    assert info.value.table == "teams"
