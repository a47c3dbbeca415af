"""Ask the server's catalog for a constraint's table and columns, when the metadata cannot say.

A constraint renamed in the database, or created by a migration under a name the models
do not declare, is unknown to :mod:`._constraintnames`. Its columns are then looked up in
the catalog (``pg_constraint`` / ``pg_index``, ``information_schema.STATISTICS``), once
per server and name, and cached — misses included.

The lookup never uses the failing connection: on PostgreSQL the error aborted its
transaction. It opens a separate, unpooled connection to the same URL, so an exhausted
pool cannot make the error path wait, and it runs only where a blocking call is possible
(inside SQLAlchemy's greenlet, which is where the ``handle_error`` hook runs). Any
failure means "not known": the error is still raised, with the names it has.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from . import _runtime

logger = logging.getLogger("sqlops")

Found = tuple[str, tuple[str, ...]]  # table, columns

_cache: dict[tuple[str, str, str | None, str | None, str], Found | None] = {}
_engines: dict[str, Any] = {}

_POSTGRESQL = text(
    """
    SELECT t.relname, a.attname
    FROM pg_constraint c
    JOIN pg_class t ON t.oid = c.conrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(num, ord)
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num
    WHERE c.conname = :name
      AND (CAST(:table AS text) IS NULL OR t.relname = :table)
      AND (CAST(:schema AS text) IS NULL OR n.nspname = :schema)
    UNION ALL
    SELECT t.relname, a.attname
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(num, ord)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num
    WHERE ic.relname = :name
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c2 WHERE c2.conindid = i.indexrelid)
      AND (CAST(:table AS text) IS NULL OR t.relname = :table)
      AND (CAST(:schema AS text) IS NULL OR n.nspname = :schema)
    """
)
_MYSQL = text(
    "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
    "WHERE TABLE_SCHEMA = DATABASE() AND INDEX_NAME = :name "
    "AND (:table IS NULL OR TABLE_NAME = :table) ORDER BY TABLE_NAME, SEQ_IN_INDEX"
)
_QUERIES = {"postgresql": _POSTGRESQL, "mysql": _MYSQL}


def lookup(
    engine: Engine | None, dialect: str, name: str, table: str | None, schema: str | None
) -> Found | None:
    """The table and columns of constraint ``name``, from the catalog (cached)."""
    if engine is None or dialect not in _QUERIES:
        return None
    url = engine.url.render_as_string(hide_password=False)
    key = (url, dialect, schema if dialect == "postgresql" else None, table, name)
    if key in _cache:
        return _cache[key]
    if not _can_block():
        return None  # not cached: a later error inside the greenlet may still look it up
    found = None
    try:
        found = _query(url, bool(engine.dialect.is_async), dialect, name, table, schema)
    except Exception as exc:  # the catalog is a help, never a new failure
        logger.debug("catalog lookup of constraint %s failed: %s", name, type(exc).__name__)
    _cache[key] = found
    return found


def _can_block() -> bool:
    if _runtime.explicit():  # the sync twin's session calls: a blocking driver, no loop
        return True
    try:
        from sqlalchemy.util.concurrency import in_greenlet
    except ImportError:  # pragma: no cover - SQLAlchemy without it
        return False
    return bool(in_greenlet())


def _query(
    url: str, is_async: bool, dialect: str, name: str, table: str | None, schema: str | None
) -> Found | None:
    """Run the catalog query on an unpooled engine of the same driver (the sync twin's is
    a sync one: an async engine's calls need SQLAlchemy's greenlet, which it has not)."""
    engine = _engines.get(url)
    if engine is None:
        from sqlalchemy import create_engine
        from sqlalchemy.ext.asyncio import create_async_engine

        made = create_async_engine(url, poolclass=NullPool) if is_async else None
        engine = _engines[url] = (
            made.sync_engine if made is not None else create_engine(url, poolclass=NullPool)
        )
    params = {"name": name, "table": table}
    if dialect == "postgresql":
        params["schema"] = schema
    with engine.connect() as conn:
        rows = conn.execute(_QUERIES[dialect], params).all()
    tables = {row[0] for row in rows}
    if len(tables) != 1:
        return None  # unknown, or the same name on several tables: do not guess
    return rows[0][0], tuple(dict.fromkeys(row[1] for row in rows))
