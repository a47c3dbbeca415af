"""Running behind a connection pooler in transaction mode (PgBouncer).

PgBouncer in transaction pooling mode hands each transaction to whichever server
connection is free, so session state does not follow a client from one transaction to
the next — and PgBouncer 1.18 (Debian 12's) does not carry named prepared statements
either. asyncpg names and caches a prepared statement per query by default, and the
next transaction, on another server connection, finds it missing ("prepared statement
... does not exist") or meets another client's statement of the same name ("already
exists").

``Database(url, pooler="pgbouncer")`` (or ``?pooler=pgbouncer`` in the URL) turns both
caches off: asyncpg's ``statement_cache_size=0`` and SQLAlchemy's
``prepared_statement_cache_size=0``. asyncpg then uses the unnamed statement for every
query, which it parses, describes and executes in one protocol round without a Sync in
between, so the statement never leaves the transaction — not even an autocommit one —
that it was made in. The read templates (:mod:`sqlops._templates`) go through the same
asyncpg calls and so are unnamed too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import URL

POOLERS = ("pgbouncer",)
_OPTION = "pooler"
# What turns named, cached prepared statements off, per PostgreSQL driver.
_CONNECT_ARGS: dict[str, dict[str, Any]] = {
    "asyncpg": {"statement_cache_size": 0, "prepared_statement_cache_size": 0},
    "psycopg": {"prepare_threshold": None},
    "psycopg_async": {"prepare_threshold": None},
}


def split_option(url: URL) -> tuple[URL, str | None]:
    """``url`` without its ``?pooler=`` option, and the option's value."""
    value = url.query.get(_OPTION)
    if value is None:
        return url, None
    if isinstance(value, tuple):
        value = value[-1]
    return url.difference_update_query([_OPTION]), str(value)


def check(pooler: str | None, url: URL) -> str | None:
    """``pooler`` validated against ``url`` (None: no pooler in front of the server)."""
    if pooler is None:
        return None
    if pooler not in POOLERS:
        raise ValueError(f"pooler must be one of {POOLERS} or None, not {pooler!r}")
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"pooler={pooler!r} is for PostgreSQL URLs, not {url.get_backend_name()}")
    return pooler


def engine_options(pooler: str | None, url: URL, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the driver arguments ``pooler`` needs (the caller's own win)."""
    if pooler is None:
        return options
    ours: dict[str, Any] = _CONNECT_ARGS.get(url.get_driver_name(), {})
    theirs: dict[str, Any] = options.get("connect_args") or {}
    return {**options, "connect_args": {**ours, **theirs}}
