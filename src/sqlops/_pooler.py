"""Running behind a connection pooler in transaction mode (PgBouncer).

PgBouncer in transaction pooling mode hands each transaction to whichever server
connection is free, so session state does not follow a client from one transaction to
the next — and PgBouncer before 1.21 (Debian 12 ships 1.18), or any version with
``max_prepared_statements = 0``, does not carry named prepared statements either. A
named statement left on a server connection breaks the next transaction that lands
there: "prepared statement ... does not exist" (it was made on another server
connection) or "already exists" (another client, another process, made one of the same
name there: asyncpg counts ``__asyncpg_stmt_N__`` from 1 in every process).

The rule, under ``Database(url, pooler="pgbouncer")`` (or ``?pooler=pgbouncer``):
**sqlops and the drivers under it use only the unnamed statement**, which a Parse on the
same server connection replaces and which nothing refers to after its own exchange, so
no named statement exists to outlive a transaction. sqlops chooses the names itself
instead of trusting each driver version's defaults:

- asyncpg ``statement_cache_size=0``: ``fetch``/``execute``/cursors/COPY use the unnamed
  statement (COPY's column introspection only from asyncpg 0.31 on: older versions are
  refused under the pooler, see :func:`check`);
- SQLAlchemy ``prepared_statement_cache_size=0`` and ``prepared_statement_name_func``
  returning ``""``: the statement SQLAlchemy prepares for every execute is unnamed on
  every asyncpg version (before 0.31, ``prepare()`` named it by default);
- read templates learn their result types with an unnamed prepare
  (:func:`sqlops._templates._learn_asyncpg`), then run through ``fetch`` as above;
- psycopg (the sync twin, and ``postgresql+psycopg_async``) ``prepare_threshold=None``.

The caller's ``engine_options={"connect_args": ...}`` win. PgBouncer >= 1.21 with
``max_prepared_statements > 0`` tracks protocol-level named statements itself and
re-prepares them on whichever server connection a transaction gets: there the pooler
setting is not needed (asyncpg's own named, cached statements work), and it still works
when given; re-enabling a driver cache in ``connect_args`` keeps that driver's naming
(sqlops then leaves SQLAlchemy's names to asyncpg too).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import URL

from ._errors import MissingDependencyError

POOLERS = ("pgbouncer",)
_OPTION = "pooler"
# What turns named, cached prepared statements off, per PostgreSQL driver.
_CONNECT_ARGS: dict[str, dict[str, Any]] = {
    "asyncpg": {"statement_cache_size": 0, "prepared_statement_cache_size": 0},
    "psycopg": {"prepare_threshold": None},
    "psycopg_async": {"prepare_threshold": None},
}
_NAME_FUNC = "prepared_statement_name_func"
UNNAMED = ""  # the protocol's unnamed statement
ASYNCPG_UNNAMED_COPY = (0, 31)  # first asyncpg whose COPY introspection is unnamed uncached


def unnamed() -> str:
    """Name every statement SQLAlchemy prepares on asyncpg: the unnamed one."""
    return UNNAMED


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
    if url.get_driver_name() == "asyncpg":
        _check_asyncpg(pooler)
    return pooler


def _check_asyncpg(pooler: str) -> None:
    """Refuse an asyncpg whose COPY would leave a named statement behind the pooler."""
    import asyncpg

    found = asyncpg_version(asyncpg.__version__)
    if found < ASYNCPG_UNNAMED_COPY:
        wanted = ".".join(map(str, ASYNCPG_UNNAMED_COPY))
        raise MissingDependencyError(
            f"pooler={pooler!r} needs asyncpg >= {wanted} (installed: {asyncpg.__version__}), "
            "whose COPY names no prepared statement: pip install 'sqlops[postgresql]'",
            extra="postgresql",
            name="asyncpg",
        )


def asyncpg_version(text: str) -> tuple[int, int]:
    """``"0.30.0"`` → ``(0, 30)``; a development suffix is ignored."""
    major, _, rest = text.partition(".")
    minor = "".join(c for c in rest.partition(".")[0] if c.isdigit())
    return int(major), int(minor or 0)


def engine_options(pooler: str | None, url: URL, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the driver arguments ``pooler`` needs (the caller's own win)."""
    if pooler is None:
        return options
    ours: dict[str, Any] = _CONNECT_ARGS.get(url.get_driver_name(), {})
    theirs: dict[str, Any] = options.get("connect_args") or {}
    merged = {**ours, **theirs}
    if url.get_driver_name() == "asyncpg" and _uncached(merged):
        merged.setdefault(_NAME_FUNC, unnamed)
    return {**options, "connect_args": merged}


def _uncached(connect_args: dict[str, Any]) -> bool:
    """Whether neither asyncpg nor SQLAlchemy keeps a prepared statement for reuse.

    Only then is the unnamed statement safe for SQLAlchemy: a cached statement object is
    executed again later, by which time the unnamed statement is another query.
    """
    return not connect_args.get("statement_cache_size") and not connect_args.get(
        "prepared_statement_cache_size"
    )
