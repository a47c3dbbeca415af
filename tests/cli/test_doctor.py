"""`sqlops doctor` against the real servers: healthy, unreachable, and each known trap."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

import sqlops
from sqlops._doctor import Report, _guarded, pgbouncer_signals

from .conftest import run


def render(url: URL | str) -> str:
    return url if isinstance(url, str) else url.render_as_string(hide_password=False)


def doctor_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = run("doctor", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["status"] for check in report["checks"]}


def test_healthy_database_passes(url: URL | str, backend: str) -> None:
    if backend == "sqlite":
        asyncio.run(_touch(url))  # doctor never creates a database file
    code, report = doctor_json(render(url))
    seen = statuses(report)
    assert code == 0, report
    assert report["ok"] is True
    assert seen["reachable"] == seen["server version"] == "ok"
    # ok or warn depends on this machine's load, not on sqlops: check what it measured
    latency = next(c for c in report["checks"] if c["name"] == "latency")
    assert " ms median" in latency["detail"]
    assert seen["expire_on_commit"] == "ok"
    expected = {
        "sqlite": {"journal_mode": "ok", "foreign_keys": "ok"},
        "postgresql": {"pgbouncer": "ok", "idle in transaction": "warn"},  # PG's default: 0
        "mysql": {"wait_timeout": "ok"},
    }[backend]
    assert {name: seen[name] for name in expected} == expected


async def _touch(url: URL | str) -> None:
    async with sqlops.Database(url) as db:
        await db.ping()


@pytest.mark.postgresql
def test_the_password_is_never_printed(servers: Any) -> None:
    url = servers.url("postgresql").set(password="s3cret-pw")  # trust auth ignores it
    for args in (["--json"], []):
        result = run("doctor", *args, render(url))
        assert result.exit_code == 0, result.output
        assert "s3cret-pw" not in result.output
        assert "***" in result.output


def test_table_output_names_each_check_and_the_verdict(url: URL | str, backend: str) -> None:
    if backend == "sqlite":
        asyncio.run(_touch(url))
    result = run("doctor", render(url))
    assert result.exit_code == 0, result.output
    assert "reachable" in result.stdout and "latency" in result.stdout
    assert "healthy: 0 failed" in result.stdout


@pytest.mark.parametrize(
    "scheme", [pytest.param(s, marks=getattr(pytest.mark, s)) for s in ("postgresql", "mysql")]
)
def test_unreachable_server_fails(scheme: str) -> None:
    code, report = doctor_json(f"{scheme}://nobody@127.0.0.1:1/nothing", "--timeout", "5")
    check = next(c for c in report["checks"] if c["name"] == "reachable")
    assert code == 1 and report["ok"] is False
    assert check["status"] == "fail"
    assert "Connect call failed" in check["detail"] or "refused" in check["detail"].lower()
    assert check["fix"]


def test_sync_driver_url_fails_with_the_async_driver_to_use() -> None:
    code, report = doctor_json("postgresql+psycopg2://app:s3cret@127.0.0.1/app")
    [check] = report["checks"]
    assert code == 1
    assert report["target"] == "postgresql+psycopg2://app:***@127.0.0.1/app"
    assert (check["name"], check["status"]) == ("driver", "fail")
    assert "postgresql+asyncpg" in check["detail"]


def test_a_driver_that_is_not_installed_fails_with_the_install_hint() -> None:
    code, report = doctor_json("postgresql+psycopg://app@127.0.0.1/app")
    if report["checks"][0]["status"] == "ok":
        pytest.skip("psycopg 3 is installed here")
    assert code == 1
    assert report["checks"][0]["fix"].startswith("install the driver the URL names")


def test_missing_sqlite_file_is_a_warning_and_is_not_created(tmp_path: Any) -> None:
    path = tmp_path / "absent.db"
    code, report = doctor_json(f"sqlite+aiosqlite:///{path}")
    assert code == 0
    assert statuses(report)["reachable"] == "warn"
    assert not path.exists()


@pytest.mark.sqlite
def test_expire_on_commit_trap_is_found_through_object(
    app_module: Callable[[str], str], tmp_path: Any
) -> None:
    sqlite3.connect(tmp_path / "app.db").close()
    name = app_module(
        "from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine\n"
        f"engine = create_async_engine('sqlite+aiosqlite:///{tmp_path / 'app.db'}')\n"
        "Session = async_sessionmaker(engine)\n"
    )
    code, report = doctor_json("--object", f"{name}:Session")
    check = next(c for c in report["checks"] if c["name"] == "expire_on_commit")
    assert code == 1
    assert check["status"] == "fail"
    assert "expire_on_commit=False" in check["fix"]
    # the same plain engine also leaves SQLite's foreign keys off and skips WAL
    assert statuses(report)["foreign_keys"] == "fail"
    assert statuses(report)["journal_mode"] == "warn"


def test_a_sqlops_database_object_is_inspected(
    url: URL | str, backend: str, app_module: Callable[[str], str]
) -> None:
    if backend == "sqlite":
        asyncio.run(_touch(url))
    name = app_module(f"import sqlops\ndatabase = sqlops.Database({render(url)!r})\n")
    code, report = doctor_json("--object", f"{name}:database")
    assert code == 0, report
    assert statuses(report)["expire_on_commit"] == "ok"
    assert f"(from {name}:database)" in report["target"]


@pytest.mark.mysql
def test_wait_timeout_shorter_than_pool_recycle_fails_without_pre_ping(
    servers: Any, app_module: Callable[[str], str]
) -> None:
    url = render(servers.url("mysql"))
    name = app_module(
        "from sqlalchemy.ext.asyncio import create_async_engine\n"
        f"engine = create_async_engine({url!r})\n"  # recycle never, no pre-ping
    )
    code, report = doctor_json("--object", f"{name}:engine")
    checks = {c["name"]: c for c in report["checks"]}
    assert code == 1
    assert checks["wait_timeout"]["status"] == "fail"
    assert "pool_recycle=" in checks["wait_timeout"]["fix"]
    assert checks["pool pre-ping"]["status"] == "warn"


def test_a_sync_engine_object_fails(app_module: Callable[[str], str]) -> None:
    name = app_module("from sqlalchemy import create_engine\nengine = create_engine('sqlite://')\n")
    code, report = doctor_json("--object", f"{name}:engine")
    assert code == 1
    assert report["checks"][0]["name"] == "driver"
    assert "blocks the event loop" in report["checks"][0]["detail"]


def test_pgbouncer_is_suspected_by_port_or_by_backends_changing() -> None:
    assert pgbouncer_signals(5432, [10, 10, 10, 10]) == []
    assert pgbouncer_signals(6432, [10, 10, 10, 10]) == ["port 6432 is PgBouncer's"]
    [signal] = pgbouncer_signals(5432, [10, 11, 10, 12])
    assert "3 backends in 4 transactions" in signal


def test_url_and_object_together_is_a_usage_error() -> None:
    result = run("doctor", "sqlite://", "--object", "x:y")
    assert result.exit_code == 2
    assert "not both" in result.stderr


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz:db", "cannot import no_such_module_xyz"),
        ("sqlops:__version__", "is a str; doctor inspects a sqlops.Database"),
    ],
)
def test_bad_object_is_one_error_line(spec: str, message: str) -> None:
    result = run("doctor", "--object", spec)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_malformed_object_is_a_usage_error() -> None:
    result = run("doctor", "--object", "app.db")
    assert result.exit_code == 2
    assert "must look like 'pkg.module:attr'" in result.stderr


@pytest.mark.parametrize("url", ["postgresql://h:notaport/x", "garbage"])
def test_a_malformed_url_is_one_line_naming_it(url: str) -> None:
    for args in (("doctor", url), ("demo", "--url", url)):
        result = run(*args)
        assert result.exit_code == 1
        assert result.stderr == f"error: not a database URL: {url!r} " + (
            "(expected backend://user@host:port/database)\n"
        )


@pytest.mark.sqlite
def test_a_sqlite_file_in_a_missing_directory_fails(tmp_path: Path) -> None:
    code, report = doctor_json(f"sqlite:///{tmp_path}/missing/dir/x.db")
    assert code == 1
    reachable = next(c for c in report["checks"] if c["name"] == "reachable")
    assert reachable["status"] == "fail" and "is not a directory" in reachable["detail"]


@pytest.mark.postgresql
def test_sqlops_own_asyncpg_pool_is_not_warned_about(servers: Any) -> None:
    code, report = doctor_json(servers.url("postgresql").render_as_string(hide_password=False))
    assert code == 0
    pre_ping = next(c for c in report["checks"] if c["name"] == "pool pre-ping")
    assert pre_ping["status"] == "ok" and "off by design" in pre_ping["detail"]


async def test_a_check_that_stalls_fails_and_one_that_errors_warns() -> None:
    async def refused() -> None:
        raise PermissionError("permission denied for SHOW")

    report = Report(target="x")
    await _guarded("slow", asyncio.sleep(5), report, timeout=0.01)
    await _guarded("forbidden", refused(), report, timeout=1)
    assert [(c.name, c.status) for c in report.checks] == [("slow", "fail"), ("forbidden", "warn")]
    assert "permission denied for SHOW" in report.checks[1].detail
    assert not report.ok
