"""The leak report for sync sessions: never closed, listed on dispose with where they opened."""

from __future__ import annotations

import gc
from contextlib import closing

import pytest
from sqlalchemy import select
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from sqlops import SessionLeakWarning, sync
from tests.models import Base, User

from .conftest import sync_url

NO_POOL = {"poolclass": NullPool}  # a connection handed back after dispose() is just closed


@pytest.fixture
def leaky(url: URL | str) -> sync.Database:
    db = sync.Database(sync_url(url), leaked_sessions="warn", engine_options=NO_POOL)
    db.create_all(Base.metadata)
    return db


def test_an_unclosed_session_is_reported_with_where_it_was_opened(leaky: sync.Database) -> None:
    opener = leaky.session()
    session = opener.__enter__()  # leaked-here
    session.execute(select(User))
    with pytest.warns(SessionLeakWarning) as warned:
        leaky.dispose()
    message = str(warned[0].message)
    assert message.startswith("1 session(s) of sync.Database(")
    assert "`with db.session()`" in message and "contextlib.closing()" in message
    assert "test_leaks.py" in message and "# leaked-here" in message
    opener.__exit__(None, None, None)
    leaky.drop_all(Base.metadata)
    leaky.dispose()


def test_a_stream_stopped_early_and_kept_open_is_reported(leaky: sync.Database) -> None:
    users = sync.Repository(User, leaky)
    users.create_many([{"email": f"u{i}@x.io", "name": f"u{i}"} for i in range(3)])
    rows = users.stream(batch_size=1)
    assert next(rows).name == "u0"  # stopped early, never closed
    with pytest.warns(SessionLeakWarning, match=r"1 session\(s\)"):
        leaky.dispose()
    rows.close()
    leaky.drop_all(Base.metadata)
    leaky.dispose()


def test_closed_sessions_and_dropped_streams_are_not_reported(leaky: sync.Database) -> None:
    users = sync.Repository(User, leaky)
    with leaky.session() as session:
        session.execute(select(User))
    with leaky.transaction() as session:
        session.add(User(email="a@example.com", name="a"))
    with closing(users.stream()) as rows:
        assert [user.name for user in rows] == ["a"]
    dropped = users.stream()
    next(dropped)
    del dropped  # a generator dropped is closed at once: its session with it
    gc.collect()
    assert users.get_or_create(email="b@example.com", defaults={"name": "b"})[1]
    leaky.drop_all(Base.metadata)
    leaky.dispose()  # warnings are errors here: any report would fail the test
