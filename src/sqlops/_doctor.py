"""``sqlops doctor``: reach the database and look for the settings that bite in production.

Every check says what it saw and, when it is not ok, the fix. ``fail`` is a problem that
breaks requests (a sync driver, a session that expires on commit, prepared statements
behind PgBouncer); ``warn`` is a risk worth a look.

The checks inspect what the application really uses when pointed at it with
``--object app.db:database`` (a ``sqlops.Database``, an ``async_sessionmaker`` or an
``AsyncEngine``); given a URL, they inspect what ``sqlops.Database(url)`` would build.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import statistics
import sys
import time
from collections.abc import Awaitable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlalchemy.orm import sessionmaker

from ._database import Database
from ._doctor_pgbouncer import pgbouncer, pgbouncer_signals
from ._doctor_server import (
    ServerCheck,
    idle_in_transaction,
    pool_setting,
    sqlite_pragmas,
    wait_timeout,
)
from ._errors import MissingDependencyError, SqlopsError
from ._url import SyncDriverError, dialect_family, resolve_url, safe_url

Status = Literal["ok", "warn", "fail"]
PINGS = 5
SLOW_PING_MS = 50.0


class DoctorError(SqlopsError):
    """``--object`` does not name something doctor can inspect."""


class DoctorUsageError(DoctorError):
    """The arguments are malformed (``--object`` without ``:``, a URL and an object)."""


@dataclass(frozen=True)
class Check:
    """One finding: what was looked at, what was seen, and the fix when it is not ok."""

    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass
class Report:
    """Everything doctor saw about one database."""

    target: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No check failed (warnings allowed)."""
        return all(check.status != "fail" for check in self.checks)

    def add(self, name: str, status: Status, detail: str, fix: str = "") -> None:
        self.checks.append(Check(name, status, detail, fix))

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "ok": self.ok, "checks": [asdict(c) for c in self.checks]}


@dataclass
class _Target:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[Any] | None
    database: Database | None = None

    async def dispose(self) -> None:
        await (self.database.dispose() if self.database else self.engine.dispose())


async def diagnose(
    url: str | URL | None = None, *, obj: str | None = None, timeout: float = 10.0
) -> Report:
    """Check the database at ``url`` (or the one the object ``obj`` uses)."""
    report = Report(target=obj or "")
    target = _load_target(obj, url, report) if obj else _url_target(url, report)
    if target is None:
        return report
    report.target = safe_url(target.engine.url) + (f" (from {obj})" if obj else "")
    try:
        _static_checks(target, report)
        await _connected_checks(target.engine, report, timeout)
    finally:
        await target.dispose()
    return report


# ---------------------------------------------------------------------- targets


def _url_target(url: str | URL | None, report: Report) -> _Target | None:
    try:
        resolved = resolve_url(url)
    except SyncDriverError as exc:
        report.target = safe_url(make_url(url if url is not None else os.environ["DATABASE_URL"]))
        report.add("driver", "fail", str(exc), "use the async driver named above")
        return None
    except MissingDependencyError as exc:
        report.target = safe_url(make_url(url if url is not None else os.environ["DATABASE_URL"]))
        report.add("driver", "fail", str(exc), _INSTALL_FIX)
        return None
    report.target = safe_url(resolved)
    try:
        db = Database(resolved)
    except (NoSuchModuleError, ImportError, ArgumentError) as exc:
        report.add("driver", "fail", str(exc), _INSTALL_FIX)
        return None
    report.add("driver", "ok", f"{resolved.drivername} (async)")
    return _Target(db.engine, db._sessionmaker, db)


_INSTALL_FIX = (
    "install the driver the URL names, or use plain postgresql:// or mysql:// "
    "(asyncpg, asyncmy: pip install 'sqlops[postgresql]' / 'sqlops[mysql]')"
)


def _load_target(spec: str, url: str | URL | None, report: Report) -> _Target | None:
    if url is not None:
        raise DoctorUsageError("give a URL or --object, not both: the object knows its URL")
    found = import_object(spec)
    if isinstance(found, Database):
        return _Target(found.engine, found._sessionmaker, found)
    if isinstance(found, AsyncEngine):
        return _Target(found, None)
    if isinstance(found, async_sessionmaker):
        bind = found.kw.get("bind")
        if not isinstance(bind, AsyncEngine):
            raise DoctorError(f"{spec} is an async_sessionmaker bound to no AsyncEngine")
        return _Target(bind, found)
    if isinstance(found, Engine | sessionmaker):
        report.add(
            "driver",
            "fail",
            f"{spec} is a sync {type(found).__name__}: every query blocks the event loop",
            "create_async_engine(...) and async_sessionmaker(...), or sqlops.Database(url)",
        )
        return None
    raise DoctorError(
        f"{spec} is a {type(found).__name__}; doctor inspects a sqlops.Database, "
        "an async_sessionmaker or an AsyncEngine"
    )


def import_object(spec: str) -> Any:
    """Import ``"pkg.module:attr.path"``, with the current directory importable."""
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path:
        raise DoctorUsageError(f"--object must look like 'pkg.module:attr', not {spec!r}")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise DoctorError(f"cannot import {module_name}: {exc}") from exc
    for name in attr_path.split("."):
        if not hasattr(found, name):
            raise DoctorError(f"{spec}: {name!r} not found")
        found = getattr(found, name)
    return found


# ---------------------------------------------------------------------- checks


def _static_checks(target: _Target, report: Report) -> None:
    engine = target.engine
    if not any(check.name == "driver" for check in report.checks):
        report.add("driver", "ok", f"{engine.url.drivername} (async)")
    report.add("pool", "ok", _describe_pool(engine))
    if dialect_family(engine.url) == "sqlite" or pool_setting(engine, "_pre_ping", False):
        pass
    elif _checks_liveness(engine):
        report.add(
            "pool pre-ping",
            "ok",
            "off by design: sqlops replaces closed connections at checkout and pings "
            "idle ones (no round trip per query)",
        )
    else:
        report.add(
            "pool pre-ping",
            "warn",
            "off: a connection the server dropped (restart, failover, idle kill) fails "
            "the first query that gets it",
            "create_async_engine(..., pool_pre_ping=True) (sqlops.Database sets it)",
        )
    if target.sessionmaker is not None:
        _expire_on_commit(target.sessionmaker, report)


def _checks_liveness(engine: AsyncEngine) -> bool:
    """Whether sqlops' own checkout listener (asyncpg without pre-ping) guards the pool."""
    listeners = engine.sync_engine.pool.dispatch.checkout
    return any(getattr(fn, "__module__", "") == "sqlops._dialects" for fn in listeners)


def _describe_pool(engine: AsyncEngine) -> str:
    pool = engine.pool
    public = next(cls for cls in type(pool).__mro__ if not cls.__name__.startswith("_"))
    parts = [public.__name__]
    if hasattr(pool, "size"):
        parts.append(f"size={pool.size()}")
    for label, attr in (("max_overflow", "_max_overflow"), ("timeout", "_timeout")):
        value = pool_setting(engine, attr, None)
        if value is not None:
            parts.append(f"{label}={value:g}")
    recycle = pool_setting(engine, "_recycle", -1)
    parts.append(f"recycle={recycle}s" if recycle >= 0 else "recycle=never")
    parts.append(f"pre_ping={'on' if pool_setting(engine, '_pre_ping', False) else 'off'}")
    return " ".join(parts)


def _expire_on_commit(maker: async_sessionmaker[Any], report: Report) -> None:
    if maker.kw.get("expire_on_commit", True):
        report.add(
            "expire_on_commit",
            "fail",
            "True: after commit every attribute access reloads the row, which in async "
            "code raises MissingGreenlet (or a LazyLoadError)",
            "async_sessionmaker(engine, expire_on_commit=False) (sqlops.Database does this)",
        )
    else:
        report.add("expire_on_commit", "ok", "False: objects stay readable after commit")


async def _connected_checks(engine: AsyncEngine, report: Report, timeout: float) -> None:
    if _missing_sqlite_file(engine.url, report):
        return
    try:
        conn = await asyncio.wait_for(engine.connect(), timeout)
    except asyncio.TimeoutError:
        report.add("reachable", "fail", f"no connection within {timeout:g}s", _REACH_FIX)
        return
    except Exception as exc:
        report.add("reachable", "fail", _reason(exc), _REACH_FIX)
        return
    try:
        report.add("reachable", "ok", "connected")
        await _guarded("server", _server_basics(conn, report), report, timeout)
        for check in SERVER_CHECKS.get(dialect_family(engine.url), ()):
            await _guarded(check.__name__, check(conn, engine, report.add), report, timeout)
    finally:
        await conn.close()


_REACH_FIX = "check host, port, credentials and that the server is running (and the firewall)"


async def _guarded(name: str, check: Awaitable[None], report: Report, timeout: float) -> None:
    """Run one check; a server that stalls or refuses it is reported, not raised."""
    try:
        await asyncio.wait_for(check, timeout)
    except asyncio.TimeoutError:
        report.add(name, "fail", f"no answer within {timeout:g}s", _REACH_FIX)
    except Exception as exc:  # a managed server may forbid a query: say so, go on
        report.add(
            name,
            "warn",
            f"could not check: {_reason(exc)}",
            "check the privileges of the database user",
        )


def _missing_sqlite_file(url: URL, report: Report) -> bool:
    database = url.database or ""
    if dialect_family(url) != "sqlite" or database in ("", ":memory:") or "mode=memory" in database:
        return False
    if database.startswith("file:") or Path(database).exists():
        return False
    if not Path(database).parent.is_dir():
        report.add(
            "reachable",
            "fail",
            f"{database} can never be created: {Path(database).parent} is not a directory",
            "create the directory, or check the path (sqlite:///relative, sqlite:////absolute)",
        )
        return True
    report.add(
        "reachable",
        "warn",
        f"{database} does not exist yet; it is created on first connect (doctor did not)",
        "run your app or `sqlops migrate upgrade` once, or check the path",
    )
    return True


async def _server_basics(conn: AsyncConnection, report: Report) -> None:
    family = dialect_family(conn.engine.url)
    query = {"sqlite": "SELECT sqlite_version()", "postgresql": "SHOW server_version"}
    version = (await conn.exec_driver_sql(query.get(family, "SELECT VERSION()"))).scalar()
    await conn.rollback()
    report.add("server version", "ok", f"{family} {version}")
    latency = await _median_ping(conn)
    if latency >= SLOW_PING_MS:
        report.add(
            "latency",
            "warn",
            f"{latency:.1f} ms median round trip: every query pays it",
            "run the app near the database; batch work (create_many, one query per page)",
        )
    else:
        report.add("latency", "ok", f"{latency:.2f} ms median of {PINGS} round trips")


async def _median_ping(conn: AsyncConnection) -> float:
    timings = []
    for _ in range(PINGS):
        start = time.perf_counter()
        await conn.exec_driver_sql("SELECT 1")
        timings.append((time.perf_counter() - start) * 1000)
    await conn.rollback()
    return statistics.median(timings)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, SqlopsError) else f"{type(exc).__name__}: {text}"


__all__ = ["SERVER_CHECKS", "diagnose", "pgbouncer_signals", "pool_setting"]

SERVER_CHECKS: dict[str, tuple[ServerCheck, ...]] = {
    "postgresql": (idle_in_transaction, pgbouncer),
    "mysql": (wait_timeout,),
    "sqlite": (sqlite_pragmas,),
}
