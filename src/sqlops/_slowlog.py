"""Slow-query logging: statements slower than ``slow_query_ms`` on logger ``sqlops.slow``.

It listens to SQLAlchemy's cursor events, so it sees every statement that goes through
SQLAlchemy. The fast paths that hand SQL straight to the driver (read templates, COPY)
skip those events; :meth:`Database._observed` sees these listeners and switches the
fast paths off, so that no statement escapes the log. The record has the SQL text as
SQLAlchemy sends it, with placeholders, never the parameter values.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

logger = logging.getLogger("sqlops.slow")
_STARTED = "_sqlops_started"


def install(engine: Engine, threshold_ms: float) -> None:
    """Log ``engine``'s statements that take ``threshold_ms`` or longer."""
    if isinstance(threshold_ms, bool) or not isinstance(threshold_ms, int | float):
        raise ValueError(f"slow_query_ms must be a number of milliseconds, not {threshold_ms!r}")
    if threshold_ms < 0:
        raise ValueError(f"slow_query_ms must be >= 0, not {threshold_ms!r}")
    threshold = threshold_ms / 1000

    def before(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        if context is not None:
            setattr(context, _STARTED, time.perf_counter())

    def after(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        _report(context, sql, threshold, failed=False)

    def failed(error: Any) -> None:
        context = error.execution_context
        if context is not None and error.statement is not None:
            _report(context, error.statement, threshold, failed=True)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "handle_error", failed)


def _report(context: Any, statement: str, threshold: float, *, failed: bool) -> None:
    started = getattr(context, _STARTED, None)
    if started is None:
        return
    elapsed = time.perf_counter() - started
    if elapsed < threshold:
        return
    ms = elapsed * 1000
    logger.warning(
        "slow query (%.1f ms%s): %s",
        ms,
        ", failed" if failed else "",
        " ".join(statement.split()),
        extra={"sqlops_duration_ms": ms, "sqlops_sql": statement},
    )
