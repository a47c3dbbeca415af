"""slow_query_ms=: slower statements are logged on "sqlops.slow", with SQL and no values."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

import sqlops
from sqlops import Repository
from tests.models import Base, User

SECRET = "s3cr3t-slow"
SLEEP = {
    "postgresql": "SELECT pg_sleep(0.08)",
    "mysql": "SELECT SLEEP(0.08)",
    # no sleep function: a recursive count that takes a good fraction of a second
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 3000000) SELECT count(*) FROM c",
}


@pytest.fixture
def slow_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="sqlops.slow")
    return caplog


async def make(url: URL | str, slow_query_ms: float) -> sqlops.Database:
    db = sqlops.Database(url, slow_query_ms=slow_query_ms)
    await db.drop_all(Base.metadata)
    await db.create_all(Base.metadata)
    return db


@pytest.fixture
async def every(url: URL | str) -> AsyncIterator[sqlops.Database]:
    """A Database that logs every statement (threshold 0 ms)."""
    db = await make(url, 0)
    yield db
    await db.drop_all(Base.metadata)
    await db.dispose()


def slow_records(log: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in log.records if r.name == "sqlops.slow"]


async def test_a_statement_over_the_threshold_is_logged_with_sql_and_duration(
    url: URL | str, backend: str, slow_log: pytest.LogCaptureFixture
) -> None:
    db = await make(url, 50)
    slow_log.clear()  # MariaDB's DDL can take longer than that
    try:
        async with db.session() as session:
            await session.execute(text("SELECT 1"))
            assert not slow_records(slow_log)  # fast: not logged
            await session.execute(text(SLEEP[backend]))
            found = slow_records(slow_log)
    finally:
        await db.drop_all(Base.metadata)
        await db.dispose()
    [record] = found
    assert record.levelno == logging.WARNING
    assert record.sqlops_duration_ms >= 50  # type: ignore[attr-defined]
    assert record.sqlops_sql == SLEEP[backend]  # type: ignore[attr-defined]
    assert "slow query (" in record.getMessage()


async def test_the_log_has_placeholders_never_the_values(
    every: sqlops.Database, slow_log: pytest.LogCaptureFixture
) -> None:
    users = Repository(User, every)
    user = await users.create(email=f"{SECRET}@example.com", name=SECRET)
    await users.list(name=SECRET)
    await users.update(user.id, nickname=SECRET)
    sql = "\n".join(r.sqlops_sql for r in slow_records(slow_log))  # type: ignore[attr-defined]
    assert "INSERT INTO users" in sql and "UPDATE users" in sql
    assert SECRET not in slow_log.text


async def test_the_fast_paths_are_switched_off_so_no_statement_escapes_the_log(
    every: sqlops.Database, slow_log: pytest.LogCaptureFixture
) -> None:
    assert every._observed()  # read templates and COPY go through SQLAlchemy instead
    users = Repository(User, every)
    await users.create_many([{"email": f"u{i}@x.io", "name": "u"} for i in range(3)])
    slow_log.clear()
    await users.get(1)  # a template on asyncpg / aiosqlite when nobody listens
    await users.page(name="u", per_page=2)
    logged = [r.sqlops_sql for r in slow_records(slow_log)]  # type: ignore[attr-defined]
    assert len(logged) == 2 and all(s.lstrip().startswith("SELECT") for s in logged)


@pytest.mark.parametrize("bad", [-1, "10", True])
def test_a_bad_threshold_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="slow_query_ms"):
        sqlops.Database("sqlite+aiosqlite://", slow_query_ms=bad)  # type: ignore[arg-type]
