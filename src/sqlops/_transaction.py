"""Transaction helpers: shielded clean-up and whole-transaction retries."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from . import _runtime
from ._errors import TransactionConflictError

logger = logging.getLogger("sqlops")

T = TypeVar("T")

BACKOFF_BASE = 0.005
BACKOFF_CAP = 0.5


@dataclass(frozen=True)
class RetryStats:
    """A snapshot of :meth:`Database.run`'s counters: how often transactions were retried.

    ``runs`` calls of ``run()`` made ``attempts`` attempts; ``conflicts`` of them failed
    with a conflict, and ``gave_up`` runs ran out of retries.
    """

    runs: int = 0
    attempts: int = 0
    conflicts: int = 0
    gave_up: int = 0

    def __sub__(self, earlier: RetryStats) -> RetryStats:
        """The counts between ``earlier`` and this snapshot."""
        return RetryStats(
            self.runs - earlier.runs,
            self.attempts - earlier.attempts,
            self.conflicts - earlier.conflicts,
            self.gave_up - earlier.gave_up,
        )


class Counters:
    """The live counters behind :class:`RetryStats` (one per Database, one process-wide)."""

    __slots__ = ("attempts", "conflicts", "gave_up", "runs")

    def __init__(self) -> None:
        self.runs = self.attempts = self.conflicts = self.gave_up = 0

    def snapshot(self) -> RetryStats:
        return RetryStats(self.runs, self.attempts, self.conflicts, self.gave_up)


stats = Counters()  # every Database's run() together


async def shielded(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` to the end even if the caller is cancelled meanwhile.

    Clean-up (rollback, close) that is cut short leaves a connection "idle in
    transaction" or outside the pool; the task keeps running if we are cancelled again.
    Driven by the sync twin (no loop, no cancellation) it just awaits ``coro``.
    """
    if _runtime.blocking():  # the sync twin: nothing can cancel us
        return await coro
    task = asyncio.ensure_future(coro)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            try:
                await asyncio.wait([task])
            except asyncio.CancelledError:
                continue
        raise


async def quietly(coro: Coroutine[Any, Any, Any]) -> None:
    """Run clean-up ``coro`` shielded; log (do not raise) its failure.

    Used while another exception is propagating: a failed rollback on a dead connection
    must not hide the error that caused it.
    """
    try:
        await shielded(coro)
    except Exception as exc:
        logger.debug("clean-up failed: %s: %s", type(exc).__name__, exc)


async def close(session: Any, *, quiet: bool = True) -> None:
    """Close ``session``: :func:`quietly` (or, ``quiet=False``, :func:`shielded`).

    A sqlops session whose transaction has ended (committed) has no IO left to do on
    close: that happens at once, without the shielded task and the greenlet hop.
    """
    close_idle = getattr(session, "_sqlops_close_idle", None)
    if close_idle is not None and close_idle():
        return
    if quiet:
        await quietly(session.close())
    else:
        await shielded(session.close())


def backoff(attempt: int) -> float:
    """Full-jitter exponential backoff, capped: attempt 1 -> up to 5 ms, then doubling."""
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))


async def run_with_retries(
    attempt: Callable[[], Awaitable[T]], retries: int, counters: Counters | None = None
) -> T:
    """Call ``attempt`` until it does not raise a conflict, at most ``retries + 1`` times.

    Counts into the process-wide :data:`stats` and, if given, ``counters`` (a Database's).
    """
    if retries < 0:
        raise ValueError("retries must be >= 0")
    every = (stats,) if counters is None else (stats, counters)
    _count(every, "runs")
    for number in range(1, retries + 2):
        _count(every, "attempts")
        try:
            return await attempt()
        except TransactionConflictError as exc:
            _count(every, "conflicts")
            if number > retries:
                _count(every, "gave_up")
                raise TransactionConflictError(
                    f"gave up after {number} attempts: {exc}", attempts=number
                ) from exc
            logger.debug("transaction conflict, retry %d/%d: %s", number, retries, exc)
            await _runtime.sleep(backoff(number))
    raise AssertionError("unreachable")  # pragma: no cover


def _count(every: tuple[Counters, ...], name: str) -> None:
    for counters in every:
        setattr(counters, name, getattr(counters, name) + 1)
