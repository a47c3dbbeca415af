"""What db_session costs per test, against building the schema for every test.

Three runs of 200 generated tests (same insert-and-read body) on PostgreSQL: without any
database (the baseline: pytest and event-loop costs), with ``db_session``, and with a
fixture that creates and drops an 8-table schema around every test. The difference to
the baseline, divided by 200, is the per-test cost (docs/testing.md quotes it).
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy.engine import URL

pytest_plugins = ["pytester"]

TESTS = 200
MODELS = """
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


def _table(number):
    return type(f"T{number}", (Base,), {
        "__tablename__": f"t{number}",
        "id": mapped_column(Integer, primary_key=True),
        "author_id": mapped_column(ForeignKey("authors.id")),
        "label": mapped_column(String(50), index=True),
    })


TABLES = [_table(n) for n in range(7)]
"""
CONFTEST = """
import pytest
import sqlops
from models import Base

@pytest.fixture(scope="session")
def sqlops_metadata():
    return Base.metadata

@pytest.fixture
async def tables_per_test(sqlops_db):
    db = sqlops.Database(sqlops_db.url)
    await db.create_all(Base.metadata)
    async with db.session() as session:
        yield session
    await db.drop_all(Base.metadata)
    await db.dispose()
"""
BODY = """
async def test_{n}(session):
    session.add(Author(name="a{n}"))
    await session.flush()
    assert (await session.scalars(select(Author))).one().name == "a{n}"
"""
BASELINE = """
async def test_{n}():
    pass
"""


def write_tests(pytester: pytest.Pytester, fixture: str) -> None:
    """200 tests taking ``session`` from ``fixture``; the baseline ones take nothing."""
    header = "import pytest\nfrom sqlalchemy import select\nfrom models import Author\n"
    if fixture:
        header += f"\n@pytest.fixture\ndef session({fixture}):\n    return {fixture}\n"
    body = BODY if fixture else BASELINE
    pytester.makepyfile(test_generated=header + "".join(body.format(n=n) for n in range(TESTS)))


def run_seconds(pytester: pytest.Pytester, url: str, ini: str) -> float:
    pytester.makeini(f"[pytest]\nasyncio_mode = auto\n{ini}")
    start = time.perf_counter()
    result = pytester.runpytest_subprocess(f"--sqlops-url={url}", "-q", "-p", "no:cacheprovider")
    elapsed = time.perf_counter() - start
    result.assert_outcomes(passed=TESTS)
    return elapsed


@pytest.fixture
def postgresql_url(servers: object) -> str:
    """The PostgreSQL server's URL; resolved before ``pytester`` (see test_plugin.url_args)."""
    server: URL = servers.url("postgresql")  # type: ignore[attr-defined]
    return server.render_as_string(hide_password=False)


@pytest.mark.slow
@pytest.mark.postgresql
def test_db_session_costs_far_less_than_tables_per_test(
    postgresql_url: str, pytester: pytest.Pytester
) -> None:
    url = postgresql_url
    pytester.makepyfile(models=MODELS)
    pytester.makeconftest(CONFTEST)
    function_loop = "asyncio_default_fixture_loop_scope = function\n"
    session_loop = function_loop + "asyncio_default_test_loop_scope = session\n"
    seconds = {}
    for name, fixture, ini in (
        ("baseline", "", function_loop),
        ("db_session, loop per test", "db_session", function_loop),
        ("db_session, one loop", "db_session", session_loop),
        ("tables per test", "tables_per_test", function_loop),
    ):
        write_tests(pytester, fixture)
        seconds[name] = run_seconds(pytester, url, ini)
    per_test = {
        name: (value - seconds["baseline"]) / TESTS * 1000
        for name, value in seconds.items()
        if name != "baseline"
    }
    print("ms per test over the baseline:", {k: round(v, 1) for k, v in per_test.items()})
    assert per_test["db_session, one loop"] < per_test["tables per test"] / 3
    assert per_test["db_session, loop per test"] < per_test["tables per test"]
