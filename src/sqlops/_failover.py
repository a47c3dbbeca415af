"""Failover: multi-host URLs, commits whose outcome is unknown, retried disconnects.

A failover manager (or a person with ``pg_ctl promote``) moves the primary to another
host. A multi-host URL lists every candidate, and asyncpg connects to the first one
that is up and matches ``target_session_attrs`` (``read-write`` for the primary,
``prefer-standby`` / ``read-only`` for replicas); sqlops already replaces connections
the old primary dropped.

What a client cannot know is whether a COMMIT that was cut off landed. So a transaction
that failed *before* its COMMIT was sent raises :class:`DatabaseUnavailableError`
(nothing was written: safe to run again, which ``db.run(..., retry_disconnects=True)``
does), and one that failed *during* COMMIT raises :class:`AmbiguousCommitError`, which
is never retried blindly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from . import _internals
from ._errors import AmbiguousCommitError, DatabaseUnavailableError

logger = logging.getLogger("sqlops")
T = TypeVar("T")
DEFAULT_BUDGET = 30.0  # seconds: retry_disconnects=True waits out a failover this long
_BACKOFF_FIRST, _BACKOFF_CAP = 0.05, 1.0


def split_hosts(url: str | URL | None) -> str | URL | None:
    """``scheme://u@h1:p1,h2:p2/db?…`` as ``scheme://u@/db?host=h1:p1&host=h2:p2&…``.

    The second spelling is the one SQLAlchemy parses (and hands asyncpg as host and
    port lists); the first is libpq's, the one people copy from their failover
    manager's docs. ``None`` is read from ``$DATABASE_URL`` so that it is split too.
    """
    raw = os.environ.get("DATABASE_URL") if url is None else url
    if not isinstance(raw, str) or "://" not in raw:
        return url if raw is None else raw
    scheme, rest = raw.split("://", 1)
    netloc, _, tail = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if "," not in hosts:
        return raw
    path, _, query = tail.partition("?")
    listed = "&".join(f"host={quote(h, safe=':[]')}" for h in hosts.split(",") if h)
    query = f"{listed}&{query}" if query else listed
    return f"{scheme}://{userinfo}{at}/{path}?{query}"


async def commit(session: AsyncSession) -> None:
    """Commit ``session``; a connection lost during COMMIT is :class:`AmbiguousCommitError`.

    The pending changes are flushed first, so a connection lost while they are sent is
    a plain :class:`DatabaseUnavailableError`: the server rolls back a transaction whose
    COMMIT it never got. (With none, the flush is skipped: it is a greenlet hop for nothing.)
    """
    if _internals.has_pending(session.sync_session):
        await session.flush()
    try:
        await session.commit()
    except AmbiguousCommitError:
        raise
    except DatabaseUnavailableError as exc:
        raise AmbiguousCommitError(
            "the connection was lost during COMMIT: the transaction may or may not have "
            "been committed; check before doing it again (see docs/operations.md)"
        ) from exc


def reconnecting(
    attempt: Callable[[], Awaitable[T]],
    budget: bool | float,
    notify: Callable[[BaseException, int], None] | None = None,
) -> Callable[[], Awaitable[T]]:
    """``attempt``, run again while it fails with a lost connection, for ``budget`` seconds.

    Only :class:`DatabaseUnavailableError` raised before COMMIT was sent is retried:
    never :class:`AmbiguousCommitError`, and never a pool timeout (the database is up,
    only busy). ``budget=True`` means :data:`DEFAULT_BUDGET`.
    """
    from ._database import PoolTimeoutError

    seconds = DEFAULT_BUDGET if budget is True else float(budget)
    if seconds <= 0:
        raise ValueError(f"retry_disconnects must be True or seconds > 0, not {budget!r}")

    async def again() -> T:
        deadline = time.monotonic() + seconds
        number = 0
        while True:
            number += 1
            try:
                return await attempt()
            except (AmbiguousCommitError, PoolTimeoutError):
                raise
            except DatabaseUnavailableError as exc:
                pause = _backoff(number)
                if time.monotonic() + pause > deadline:
                    raise
                if notify is not None:
                    notify(exc, number)
                logger.info("connection lost before COMMIT, retry %d: %s", number, exc)
                await asyncio.sleep(pause)

    return again


def _backoff(number: int) -> float:
    ceiling: float = min(_BACKOFF_CAP, _BACKOFF_FIRST * 2.0 ** (number - 1))
    return random.uniform(0.5, 1.0) * ceiling


def check_budget(value: Any) -> bool | float:
    """``retry_disconnects`` validated: False, True or seconds."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value > 0:
        return float(value)
    raise ValueError(f"retry_disconnects must be True, False or seconds > 0, not {value!r}")
