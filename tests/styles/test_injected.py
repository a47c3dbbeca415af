"""After a violation in an injected transaction: go on through a savepoint, or be told why.

A sqlops session (``db.transaction()``, ``db.session()``) remembers the database error
that ended its transaction; every later use raises ``TransactionAbortedError`` naming it
and the fix, on every backend alike, instead of SQLAlchemy's ``PendingRollbackError`` or
PostgreSQL's silent ROLLBACK at COMMIT. Rolling back (the savepoint) forgets it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

import sqlops
from tests.styles.conftest import Env

pytestmark = pytest.mark.asyncio(loop_scope="session")

Violation = Callable[[Env, sqlops.Repository[Any], Any], Awaitable[Any]]


async def _by_flush(env: Env, repo: sqlops.Repository[Any], existing: Any) -> Any:
    row = env.row(2, **{k: getattr(existing, k) for k in env.style.unique})
    return await repo.create(**row)  # the ORM flush fails


async def _by_statement(env: Env, repo: sqlops.Repository[Any], existing: Any) -> Any:
    taken = {k: getattr(existing, k) for k in env.style.unique}
    unique = {k: env.row(3)[k] for k in env.style.unique}
    return await repo.update_where(values=taken, **unique)  # one UPDATE statement fails


VIOLATIONS = [pytest.param(_by_flush, id="flush"), pytest.param(_by_statement, id="statement")]


@pytest.mark.parametrize("violate", VIOLATIONS)
async def test_violation_ends_the_transaction_and_its_next_use_says_why(
    env: Env, violate: Violation
) -> None:
    existing = await env.standalone().create(**env.row(1))
    await env.standalone().create(**env.row(3))
    with pytest.raises(sqlops.TransactionAbortedError) as info:
        async with env.db.transaction() as session:
            repo = sqlops.Repository(env.style.model, session)
            await repo.create(**env.row(5))  # an earlier write of the same transaction
            with pytest.raises(sqlops.UniqueViolation):
                await violate(env, repo, existing)
            await repo.count(**env.only_mine)  # the next use
    assert isinstance(info.value.error, sqlops.UniqueViolation)
    assert "db.savepoint(session)" in str(info.value)
    assert await env.standalone().count(**env.only_mine) == 2  # row 5 was not committed


@pytest.mark.parametrize("violate", VIOLATIONS)
async def test_violation_in_a_savepoint_lets_the_transaction_go_on(
    env: Env, violate: Violation
) -> None:
    existing = await env.standalone().create(**env.row(1))
    await env.standalone().create(**env.row(3))
    async with env.db.transaction() as session:
        repo = sqlops.Repository(env.style.model, session)
        await repo.create(**env.row(5))
        with pytest.raises(sqlops.UniqueViolation):
            async with env.db.savepoint(session):
                await violate(env, repo, existing)
        await repo.create(**env.row(6))
    assert await env.standalone().count(**env.only_mine) == 4


async def test_a_violation_swallowed_inside_a_savepoint_is_reported_when_leaving_it(
    plain_env: Env,
) -> None:
    env = plain_env
    existing = await env.standalone().create(**env.row(1))
    async with env.db.transaction() as session:
        repo = sqlops.Repository(env.style.model, session)
        with pytest.raises(sqlops.TransactionAbortedError, match="leaving the savepoint"):
            async with env.db.savepoint(session):
                with contextlib.suppress(sqlops.UniqueViolation):  # swallowed: we say so
                    await _by_flush(env, repo, existing)
        await repo.create(**env.row(7))  # the savepoint was rolled back: the rest goes on
    assert await env.standalone().count(**env.only_mine) == 2


async def test_rollback_forgets_the_violation(plain_env: Env) -> None:
    env = plain_env
    existing = await env.standalone().create(**env.row(1))
    async with env.db.session() as session:
        repo = sqlops.Repository(env.style.model, session)
        with pytest.raises(sqlops.UniqueViolation):
            await _by_flush(env, repo, existing)
        with pytest.raises(sqlops.TransactionAbortedError):
            await session.commit()
        await session.rollback()
        await repo.create(**env.row(8))
        await session.commit()
    assert await env.standalone().count(**env.only_mine) == 2


async def test_own_async_session_after_a_violation(plain_env: Env) -> None:
    """What docs/errors.md says of a session sqlops did not create (SQLAlchemy's rules)."""
    env = plain_env
    existing = await env.standalone().create(**env.row(1))
    table = env.style.model.__table__
    async with AsyncSession(env.db.engine) as session:
        repo = sqlops.Repository(env.style.model, session)
        with pytest.raises(sqlops.UniqueViolation):
            await _by_flush(env, repo, existing)
        with pytest.raises(sa_exc.PendingRollbackError):  # a failed flush: SQLAlchemy's error
            await repo.count(**env.only_mine)
        await session.rollback()
        clash = {**env.row(2), "email": existing.email}
        with pytest.raises(sqlops.UniqueViolation):
            await session.execute(insert(table).values(clash))
        if env.backend == "postgresql":  # the server refuses every further statement
            with pytest.raises(sqlops.TransactionAbortedError):
                await repo.count(**env.only_mine)
        else:  # SQLite and MariaDB undo the failed statement only
            assert await repo.count(**env.only_mine) == 1
        await session.rollback()
