"""The sync twin after a database error in a transaction: told why, as the async API is.

A ``UniqueViolation`` caught inside ``db.transaction()`` / ``db.session()`` ends the
transaction (PostgreSQL refuses every later statement; SQLAlchemy rolls a failed flush
back and raises ``PendingRollbackError`` on the next use). The async sessions raise
``TransactionAbortedError`` naming the first error on the next use; the sync twin's
sessions did not, and leaked SQLAlchemy's raw ``PendingRollbackError``. Models on a plain
``DeclarativeBase`` (no naming convention), every backend; the async side is
``tests/styles/test_injected.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import String, select
from sqlalchemy.engine import URL
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import sqlops
from sqlops import sync

from ._twin import sync_url


class Base(DeclarativeBase):
    pass


class Member(Base):
    __tablename__ = "aborted_members"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(50), unique=True)


@pytest.fixture
def db(url: URL | str) -> Iterator[sync.Database]:
    database = sync.Database(sync_url(url))
    database.drop_all(Base.metadata)
    database.create_all(Base.metadata)
    try:
        yield database
    finally:
        database.drop_all(Base.metadata)
        database.dispose()


def _by_flush(members: sync.Repository[Member]) -> Any:
    return members.create(email="taken@x")  # the ORM flush fails


def _by_statement(members: sync.Repository[Member]) -> Any:
    return members.update_where(values={"email": "taken@x"}, email="other@x")  # one UPDATE


VIOLATIONS = [pytest.param(_by_flush, id="flush"), pytest.param(_by_statement, id="statement")]
Violation = Callable[[sync.Repository[Member]], Any]


def _seed(db: sync.Database) -> None:
    sync.Repository(Member, db).create_many([{"email": "taken@x"}, {"email": "other@x"}])


@pytest.mark.parametrize("violate", VIOLATIONS)
def test_violation_ends_the_transaction_and_its_next_use_says_why(
    db: sync.Database, violate: Violation
) -> None:
    _seed(db)
    with pytest.raises(sqlops.TransactionAbortedError) as info, db.transaction() as session:
        members = sync.Repository(Member, session)
        members.create(email="mine@x")
        with pytest.raises(sqlops.UniqueViolation):
            violate(members)
        for later in (
            lambda: members.get(1),
            lambda: members.create(email="later@x"),
            lambda: session.execute(select(Member)),
            lambda: session.add(Member(email="added@x")),
        ):
            with pytest.raises(sqlops.TransactionAbortedError, match="UniqueViolation"):
                later()
        # leaving the block commits: that is refused too (the error caught above)
    assert "with db.savepoint(session)" in str(info.value)  # the sync spelling of the fix
    assert "async with" not in str(info.value)
    assert isinstance(info.value.error, sqlops.UniqueViolation)
    assert sync.Repository(Member, db).count() == 2  # nothing of it was committed


@pytest.mark.parametrize("violate", VIOLATIONS)
def test_a_savepoint_lets_the_transaction_go_on(db: sync.Database, violate: Violation) -> None:
    _seed(db)
    with db.transaction() as session:
        members = sync.Repository(Member, session)
        members.create(email="before@x")
        with pytest.raises(sqlops.UniqueViolation), db.savepoint(session):
            violate(members)
        members.create(email="after@x")
    assert sync.Repository(Member, db).count() == 4


def test_a_violation_swallowed_inside_a_savepoint_is_reported_when_leaving_it(
    db: sync.Database,
) -> None:
    _seed(db)
    with db.transaction() as session:
        members = sync.Repository(Member, session)
        with (
            pytest.raises(sqlops.TransactionAbortedError, match="leaving the savepoint"),
            db.savepoint(session),
            contextlib.suppress(sqlops.UniqueViolation),
        ):
            _by_statement(members)  # swallowed: we say so
        members.create(email="after@x")  # the savepoint was rolled back: the rest goes on
    assert sync.Repository(Member, db).count() == 3


def test_rollback_forgets_the_violation(db: sync.Database) -> None:
    _seed(db)
    with db.session() as session:
        members = sync.Repository(Member, session)
        with pytest.raises(sqlops.UniqueViolation):
            _by_flush(members)
        session.rollback()
        members.create(email="fresh@x")
        session.commit()
    assert sync.Repository(Member, db).count() == 3


@pytest.mark.parametrize("violate", VIOLATIONS)
def test_the_sessions_own_begin_nested_block_behaves_as_db_savepoint(
    db: sync.Database, violate: Violation
) -> None:
    _seed(db)
    with db.transaction() as session:
        members = sync.Repository(Member, session)
        with pytest.raises(sqlops.UniqueViolation), session.begin_nested():
            violate(members)
        members.create(email="after@x")  # the savepoint took the error with it
        with (
            pytest.raises(sqlops.TransactionAbortedError, match="leaving the savepoint"),
            session.begin_nested(),
            contextlib.suppress(sqlops.UniqueViolation),  # swallowed: we say so
        ):
            violate(members)
        members.create(email="last@x")
    assert sync.Repository(Member, db).count() == 4
