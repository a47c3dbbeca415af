"""No password and no bound value in ``repr(db)``, in logs (``echo=True`` too), in errors.

Error messages reach HTTP responses and log aggregators; a password in a URL or an
e-mail address in a unique-key message ends up there. Every operation below involves
the password or the secret value; the test captures every record of the ``sqlalchemy``
and ``sqlops`` loggers at DEBUG, everything written to stdout / stderr, and the text
of every error raised, and looks for both.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

import sqlops
from tests.models import Base, Team, User
from tests.reliability._cluster import free_port

PASSWORD = "pw-S3CRET-9"
VALUE = "val-S3CRET-7"


@pytest.fixture
async def secret_db(url: URL | str, backend: str) -> AsyncIterator[sqlops.Database]:
    """The test database, through a URL with a password (PostgreSQL: trust ignores it)."""
    target = make_url(url) if isinstance(url, str) else url
    if backend == "postgresql":
        target = target.set(password=PASSWORD)
    closed = f"postgresql://app:{PASSWORD}@127.0.0.1:{free_port(40000)}/nowhere"
    replicas = [closed] if backend == "postgresql" else []
    db = sqlops.Database(target, echo=True, replicas=replicas)
    try:
        await db.drop_all(Base.metadata)
        await db.create_all(Base.metadata)
        yield db
        await db.drop_all(Base.metadata)
    finally:
        await db.dispose()


def _texts(error: BaseException) -> list[str]:
    """What a caller or a log line shows of ``error`` (not its ``__cause__``)."""
    shown = [str(error), repr(error)]
    for name in ("detail", "table", "column", "constraint", "columns"):
        shown.append(str(getattr(error, name, "")))
    return shown


async def _every_operation(db: sqlops.Database) -> list[BaseException]:
    """Write, read, filter and fail with the secret value; return the errors raised."""
    users = sqlops.Repository(User, db)
    errors: list[BaseException] = []
    team = await sqlops.Repository(Team, db).create(name=VALUE)
    user = await users.create(email=f"{VALUE}@x.io", name=VALUE, team_id=team.id)
    await users.list(email=f"{VALUE}@x.io", name__contains=VALUE)
    await users.page(name__startswith=VALUE[:5], order_by="email")
    await users.update(user.id, nickname=VALUE)
    failing = [
        users.create(email=f"{VALUE}@x.io", name="duplicate"),  # UniqueViolation
        users.create(email="long@x.io", name=VALUE * 20),  # too long (PG, MariaDB)
        users.create(email="fk@x.io", name="x", team_id=10**6),  # ForeignKeyViolation
        users.update(user.id, age=VALUE),  # not an integer
        users.one(email=VALUE),  # NotFoundError
    ]
    for call in failing:
        try:
            await call
        except sqlops.SqlopsError as exc:
            errors.append(exc)
    async with db.transaction() as s:  # a raw statement, its parameter bound
        await s.execute(text("SELECT :v"), {"v": VALUE})
    try:
        async with db.transaction() as s:
            await s.execute(text("SELECT CAST(:v AS INTEGER)"), {"v": VALUE})
    except Exception as exc:
        errors.append(exc)
    return errors


async def test_no_secret_in_repr_logs_or_errors(
    secret_db: sqlops.Database,
    backend: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: sqlalchemy, sqlops, the drivers'
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    caplog.set_level(logging.DEBUG, logger="sqlops")
    assert PASSWORD not in repr(secret_db) and PASSWORD not in str(secret_db.url)

    errors = await _every_operation(secret_db)

    # the failing calls did fail (SQLite stores long names and text for integers;
    # MariaDB's CAST only warns: "Truncated incorrect INTEGER value")
    assert len(errors) == {"sqlite": 3, "mysql": 5, "postgresql": 6}[backend], errors
    out, err = capsys.readouterr()
    logged = [record.getMessage() for record in caplog.records]
    logged += [caplog.text, out, err]
    assert any("INSERT INTO users" in line for line in logged)  # echo did log statements
    if backend == "postgresql":  # the unreachable replica was logged, with its URL
        assert any("replica 0 is unavailable" in line for line in logged)
    shown = logged + [t for error in errors for t in _texts(error)]
    leaks = [line for line in shown if PASSWORD in line or VALUE in line]
    assert leaks == []


async def test_no_password_in_a_connection_error(backend: str, url: URL | str) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite has no password")
    target = (make_url(url) if isinstance(url, str) else url).set(
        password=PASSWORD, port=free_port(41000)
    )
    async with sqlops.Database(target) as db:
        with pytest.raises(sqlops.DatabaseUnavailableError) as info:
            await db.ping()
    assert PASSWORD not in str(info.value) and "***" in str(info.value)
