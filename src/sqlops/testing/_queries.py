"""Count the SQL statements a block of code sends: ``count_queries``, ``assert_max_queries``.

::

    with count_queries() as q:
        await users.list(load=["posts"])
    assert q.count == 2, q

    with assert_max_queries(2):
        await users.list(load=["posts"])   # fails listing every statement if it sends 3

Statements are counted where SQLAlchemy hands them to the driver, on every engine in the
process (or only on the ``targets`` given), from every task. Transaction control
(``BEGIN``, ``SAVEPOINT``, ``RELEASE``, ``ROLLBACK TO``, ``COMMIT``, ``ROLLBACK``) is left
out by default: the test kit's savepoints would otherwise make every count depend on how
the test is isolated rather than on the code under test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from sqlops._database import Database
from sqlops.sync import Database as SyncDatabase

_TRANSACTION_CONTROL = re.compile(
    r"\s*(BEGIN|START\s+TRANSACTION|SAVEPOINT|RELEASE|ROLLBACK|COMMIT)\b", re.IGNORECASE
)

Target = (
    Database
    | SyncDatabase
    | AsyncEngine
    | AsyncConnection
    | AsyncSession
    | Session
    | Engine
    | Connection
)


@dataclass
class QueryCounter:
    """The statements sent inside a ``count_queries()`` block, in order."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many statements were sent."""
        return len(self.statements)

    def __str__(self) -> str:
        if not self.statements:
            return "no statements"
        return "\n".join(
            f"{number}. {_one_line(sql)}" for number, sql in enumerate(self.statements, 1)
        )


def _one_line(sql: str) -> str:
    return " ".join(sql.split())


@contextmanager
def count_queries(
    *targets: Target, include_transaction_control: bool = False
) -> Iterator[QueryCounter]:
    """Record every statement sent inside the block; yield the :class:`QueryCounter`.

    With no ``targets`` every engine counts (the usual case in a test); otherwise only
    the given databases, engines, connections or sessions.
    """
    counter = QueryCounter()

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if include_transaction_control or not _TRANSACTION_CONTROL.match(statement):
            counter.statements.append(statement)

    listened = _sync_targets(targets) or [Engine]
    for target in listened:
        event.listen(target, "before_cursor_execute", record)
    try:
        yield counter
    finally:
        for target in listened:
            event.remove(target, "before_cursor_execute", record)


@contextmanager
def assert_max_queries(
    limit: int, *targets: Target, include_transaction_control: bool = False
) -> Iterator[QueryCounter]:
    """Fail (``AssertionError``) if the block sends more than ``limit`` statements.

    The message lists every statement, numbered, so the extra one is easy to spot. An
    exception raised inside the block propagates unchanged instead.
    """
    if not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit must be an integer >= 0, got {limit!r}")
    with count_queries(*targets, include_transaction_control=include_transaction_control) as q:
        yield q
    if q.count > limit:
        raise AssertionError(f"expected at most {limit} queries, {q.count} were sent:\n{q}")


def _sync_targets(targets: tuple[Target, ...]) -> list[Any]:
    found: list[Any] = []
    for target in targets:
        for sync in _sync_of(target):
            if sync not in found:
                found.append(sync)
    return found


def _sync_of(target: Target) -> list[Any]:
    if isinstance(target, Database):
        return [target.engine.sync_engine, *(r.sync_engine for r in target.replicas)]
    if isinstance(target, AsyncEngine | AsyncConnection):
        return [target.sync_engine]
    if isinstance(target, AsyncSession):
        bind = target.sync_session.bind
        return [bind.engine] if bind is not None else [Engine]
    if isinstance(target, Session):  # the sync twin's sessions
        bind = target.bind
        return [bind.engine] if bind is not None else [Engine]
    if isinstance(target, SyncDatabase):
        return [e.sync_engine for e in (target._core.engine, *target._core.replicas)]
    if isinstance(target, Connection):
        return [target.engine]
    if isinstance(target, Engine):
        return [target]
    raise TypeError(
        f"count queries on a Database, engine, connection or session, not {type(target).__name__}"
    )
