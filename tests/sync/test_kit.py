"""The test kit's sync fixtures, end to end in a pytest subprocess without pytest-asyncio."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import URL, make_url

import sqlops
from sqlops import sync
from sqlops.testing._sync import rolled_back_session, sync_database
from tests.models import Base, Team

pytest_plugins = ["pytester"]

CONFTEST = """
import pytest
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from sqlops.models import Base, IntPK


class Kit(IntPK, Base):
    __tablename__ = "kits"
    name: Mapped[str] = mapped_column(String(50), unique=True)


@pytest.fixture(scope="session")
def sqlops_metadata():
    return Base.metadata
"""

TESTS = """
import pytest
import sqlops
from sqlops import sync
from conftest import Kit


@pytest.mark.parametrize("run", [1, 2])
def test_commits_are_rolled_back_after_the_test(sync_db_session, run):
    kits = sync.Repository(Kit, sync_db_session)
    kits.create(name="tripod")
    sync_db_session.commit()  # releases a savepoint: the outer transaction stays
    assert kits.count() == 1  # the other run's row is gone


def test_savepoints_and_errors_inside(sync_db_session):
    kits = sync.Repository(Kit, sync_db_session)
    kits.create(name="a")
    with pytest.raises(sqlops.UniqueViolation):
        with sync_db_session.begin_nested():
            kits.create(name="a")
    assert kits.count() == 1


def test_count_queries_on_sync_code(sqlops_sync_db, sync_db_session, count_queries):
    kits = sync.Repository(Kit, sync_db_session)
    with count_queries(sync_db_session) as q:
        kits.list()
    assert q.count == 1
    assert sqlops_sync_db.dialect in ("sqlite", "postgresql", "mysql")
"""


def test_sync_fixtures_without_pytest_asyncio(pytester: pytest.Pytester) -> None:
    """On SQLite (the kit's default); the servers are covered in-process below.

    (A pytester run against a server here left the *outer* process segfaulting in
    asyncpg's SSL handshake while the root conftest dropped its databases.)
    """
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_kit_sample=TESTS)
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    result = pytester.runpytest_subprocess("-p", "no:asyncio", "-p", "no:anyio")
    result.assert_outcomes(passed=4)


def test_rolled_back_session_leaves_nothing(url: URL | str) -> None:
    """What ``sync_db_session`` does, on every backend: commits inside are undone."""
    with sync_database(make_url(url), {"n_plus_one": "raise", "leaked_sessions": "warn"}) as db:
        db.drop_all(Base.metadata)
        db.create_all(Base.metadata)
        try:
            with rolled_back_session(db) as session:
                teams = sync.Repository(Team, session)
                teams.create(name="a")
                session.commit()
                with pytest.raises(sqlops.UniqueViolation), session.begin_nested():
                    teams.create(name="a")
                assert teams.count() == 1
            assert sync.Repository(Team, db).count() == 0
        finally:
            db.drop_all(Base.metadata)
