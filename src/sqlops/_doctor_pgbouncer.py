"""``sqlops doctor``: is a PgBouncer in front of PostgreSQL, and is sqlops set up for it?

Three signals, from the application's own connection: the cancel key's process id
(BackendKeyData) differs from ``pg_backend_pid()`` — a proxy made that key, in any pool
mode; the server backend changes between transactions on one client connection — only
transaction (or statement) pooling does that; and the conventional port 6432. When a
proxy is seen, PgBouncer's admin console (database ``pgbouncer``; the user must be in
``admin_users`` or ``stats_users``) is asked for the settings that matter: ``pool_mode``,
``max_prepared_statements`` (PgBouncer >= 1.21 carries prepared statements across
transactions when it is > 0), ``server_reset_query``. The console speaks only the simple
query protocol, which asyncpg cannot use for rows, so it is read with psycopg when that
is installed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ._doctor_server import Add, _scalar

PGBOUNCER_PORT = 6432
PID_SAMPLES = 4
SETTINGS = (
    "pool_mode",
    "max_prepared_statements",
    "server_reset_query",
    "server_reset_query_always",
    "default_pool_size",
)
_SHARING_MODES = ("transaction", "statement")


def pgbouncer_signals(
    port: int | None, backend_pids: Sequence[int], key_pid: int | None = None
) -> list[str]:
    """Why we think a pooling proxy (PgBouncer) sits in front of the server.

    The same backend every time proves nothing on an idle pooler, so the port still counts.
    """
    signals = []
    if key_pid is not None and backend_pids and key_pid != backend_pids[0]:
        signals.append(
            f"the connection's cancel key names process {key_pid}, the server backend is "
            f"{backend_pids[0]}: a proxy answered the connection"
        )
    if port == PGBOUNCER_PORT:
        signals.append(f"port {PGBOUNCER_PORT} is PgBouncer's")
    if len(set(backend_pids)) > 1:
        signals.append(
            f"the server backend changed between transactions on one connection "
            f"({len(set(backend_pids))} backends in {len(backend_pids)} transactions)"
        )
    return signals


async def pgbouncer(conn: AsyncConnection, engine: AsyncEngine, add: Add) -> None:
    """Report the pooler and its settings; fail when sqlops' prepared statements would break."""
    driver = (await conn.get_raw_connection()).driver_connection
    pids = [int(await _scalar(conn, "SELECT pg_backend_pid()")) for _ in range(PID_SAMPLES)]
    signals = pgbouncer_signals(engine.url.port, pids, _key_pid(driver))
    if not signals:
        add("pgbouncer", "ok", "no pooler detected (cancel key, backend per transaction, port)")
        return
    settings = await asyncio.to_thread(read_settings, engine.url)
    _report_settings(settings, add)
    mode = settings.get("pool_mode") or ("transaction" if len(set(pids)) > 1 else None)
    carried = int(settings.get("max_prepared_statements") or 0) > 0
    cached = _statement_cache(conn.dialect.driver, driver)
    why = f"{settings.get('version', 'a pooler (PgBouncer?)')} detected: " + "; ".join(signals)
    shown = f"pool_mode={mode or 'unknown'}"
    if not cached:
        add("pgbouncer", "ok", f"{why}; {shown}; sqlops' prepared-statement caches are off")
    elif mode == "session" or carried:
        reason = "session pooling" if mode == "session" else "max_prepared_statements > 0"
        add("pgbouncer", "ok", f"{why}; {shown}; prepared statements are safe ({reason})")
    else:
        add(
            "pgbouncer",
            "fail" if mode in _SHARING_MODES else "warn",
            f"{why}; {shown}; the driver caches named prepared statements ({cached}), which "
            "fail with 'prepared statement does not exist' once a transaction lands on "
            "another server connection",
            "sqlops.Database(url, pooler='pgbouncer') (or ?pooler=pgbouncer); elsewhere "
            "engine_options={'connect_args': {'statement_cache_size': 0, "
            "'prepared_statement_cache_size': 0}}; or PgBouncer >= 1.21 with "
            "max_prepared_statements = 100",
        )


def _key_pid(driver: Any) -> int | None:
    """The process id of the connection's cancel key (BackendKeyData), if the driver says."""
    getter = getattr(driver, "get_server_pid", None)  # asyncpg
    if getter is not None:
        return int(getter())
    info = getattr(driver, "info", None)  # psycopg
    pid = getattr(info, "backend_pid", None)
    return int(pid) if pid is not None else None


def _statement_cache(name: str, driver: Any) -> str:
    """What caches named prepared statements on this connection ("" when nothing does)."""
    if name == "asyncpg":
        size = int(driver._stmt_cache.get_max_size())
        return f"asyncpg statement_cache_size={size}" if size else ""
    threshold = getattr(driver, "prepare_threshold", None)  # psycopg
    return f"psycopg prepare_threshold={threshold}" if threshold is not None else ""


def read_settings(url: URL) -> dict[str, str]:
    """PgBouncer's version and :data:`SETTINGS` from its admin console; ``error`` if not."""
    try:
        import psycopg
    except ImportError:
        return {"error": "install psycopg (pip install 'sqlops[postgresql-sync]') to read them"}
    try:
        with psycopg.connect(
            host=url.host or "localhost",
            port=url.port or 5432,
            user=url.username or "",
            password=url.password or "",
            dbname="pgbouncer",
            connect_timeout=5,
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,  # the console refuses the extended protocol
        ) as console:
            version = console.execute("SHOW VERSION").fetchone()
            rows = console.execute("SHOW CONFIG").fetchall()
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return {"error": f"the admin console refused: {first}"}
    found = {str(row[0]): str(row[1]) for row in rows if row[0] in SETTINGS}
    return {"version": str(version[0]) if version else "PgBouncer", **found}


def _report_settings(settings: dict[str, str], add: Add) -> None:
    if "error" in settings:
        add(
            "pgbouncer settings",
            "warn",
            f"not read: {settings['error']}",
            "add the user to PgBouncer's stats_users (read-only) to let doctor read them",
        )
        return
    version = settings.get("version", "")
    if "max_prepared_statements" not in settings:
        settings["max_prepared_statements"] = "0"
        carried = f"not supported by {version} (needs 1.21): prepared statements are not carried"
    else:
        carried = f"max_prepared_statements={settings['max_prepared_statements']}"
    shown = ", ".join(
        f"{key}={settings[key] or repr('')}"
        for key in SETTINGS
        if key in settings and key != "max_prepared_statements"
    )
    add("pgbouncer settings", "ok", f"{version}: {shown}; {carried}")
