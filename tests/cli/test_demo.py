"""`sqlops demo`: the tour runs, says what it shows, and leaves nothing behind."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import URL

import sqlops

from .conftest import run

ROWS = "3000"  # the real default is 100,000; the path is the same


async def table_names(url: URL | str) -> list[str]:
    async with sqlops.Database(url) as db, db.engine.connect() as conn:
        return await conn.run_sync(lambda c: inspect(c).get_table_names())


def test_demo_tours_every_step_and_drops_its_tables(url: URL | str) -> None:
    rendered = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    result = run("demo", "--url", rendered, "--rows", ROWS)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "delete(bob) -> True; get(bob) -> None" in out
    assert "exists(email='tmp@example.com') -> False (rolled back)" in out
    assert ".table='demo_users' .columns=('email',)" in out
    assert ".constraint='uq_demo_users_email'" in out
    assert "page 2/5: 20 of 96" in out
    assert "walked 96 users in 3 cursor pages" in out
    assert "3,000 rows in" in out
    assert "LazyLoadError" in out and "load=['members']" in out
    assert "NPlusOneError: N+1 queries: Team.members" in out and "team_sizes.py:4" in out
    assert "SQA001" in out  # the audit step found the un-awaited delete
    assert not [t for t in asyncio.run(table_names(url)) if t.startswith("demo_")]


@pytest.mark.sqlite
def test_full_demo_on_the_default_database_is_quick_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    start = time.perf_counter()
    result = run("demo")  # 100,000 rows
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - start < 60
    assert "sqlite+aiosqlite:///./sqlops.db" in result.stdout
    assert "100,000 rows in" in result.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.sqlite
def test_demo_keeps_an_existing_database_file_and_its_tables(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"

    async def create_app_table() -> None:
        async with sqlops.Database(url) as db, db.transaction() as s:
            await (await s.connection()).exec_driver_sql("CREATE TABLE app_users (id INTEGER)")

    asyncio.run(create_app_table())
    assert run("demo", "--url", url, "--rows", "500").exit_code == 0
    assert asyncio.run(table_names(url)) == ["app_users"]


def test_demo_refuses_a_database_with_a_table_named_like_its_own(url: URL | str) -> None:
    rendered = url if isinstance(url, str) else url.render_as_string(hide_password=False)

    async def sql(statement: str) -> None:
        async with sqlops.Database(url) as db, db.engine.begin() as conn:
            await conn.exec_driver_sql(statement)

    asyncio.run(sql("CREATE TABLE demo_users (id INTEGER PRIMARY KEY, email VARCHAR(50))"))
    try:
        asyncio.run(sql("INSERT INTO demo_users (id, email) VALUES (1, 'mine@example.com')"))
        result = run("demo", "--url", rendered, "--rows", "10")
        assert result.exit_code == 1
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith("error: demo_users already on ")
        assert "never drops tables it did not create" in result.stderr
        assert "demo_users" in asyncio.run(table_names(url))
        assert not [
            t for t in asyncio.run(table_names(url)) if t.startswith("demo_") and t != "demo_users"
        ]
    finally:
        asyncio.run(sql("DROP TABLE demo_users"))


@pytest.mark.sqlite
@pytest.mark.parametrize(
    ("argv0", "on_path", "shown"),
    [
        (".venv/bin/sqlops", None, ".venv/bin/sqlops"),  # make demo: not on PATH
        ("/usr/local/bin/sqlops", "/usr/local/bin/sqlops", "sqlops"),
        ("sqlops", "/usr/local/bin/sqlops", "sqlops"),
        ("/usr/lib/python3/site-packages/pytest/__main__.py", None, "sqlops"),
    ],
)
def test_the_closing_hint_names_the_command_as_it_can_be_run(
    monkeypatch: pytest.MonkeyPatch, argv0: str, on_path: str | None, shown: str
) -> None:
    from sqlops.demo import _tour

    monkeypatch.setattr(sys, "argv", [argv0, "demo"])
    monkeypatch.setattr(shutil, "which", lambda name: on_path)
    assert _tour.sqlops_command() == shown
