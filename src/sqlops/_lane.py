"""The pool's fast lane: a template read takes an idle connection straight off the queue.

SQLAlchemy's checkout wraps a pooled connection in a ``_ConnectionFairy``, fires the
pool's ``checkout`` listeners, and at the return resets it and fires ``checkin`` and
``reset``; on asyncio each half runs in its own ``greenlet_spawn``. For a standalone
``get`` on asyncpg that was 60 to 70 µs of a 200 µs call whose round trip is 90 µs
(``python -m benchmarks breakdown``). A template read (:func:`sqlops._engines.with_driver`,
the sync twin's ``lend``) opens no transaction and leaves nothing behind, so when the only
listeners are sqlops' own it needs none of that: it takes the record with the queue's
non-blocking get, checks what those listeners check (liveness, the owning event loop),
and puts it back with the pool's own return.

The lane is used only when nothing could tell the difference. Anything else takes
SQLAlchemy's checkout, exactly as before: a pool listener the application added (an
OpenTelemetry instrumentation's pool metrics, a ``checkout`` hook), ``pool_pre_ping``,
pool debug logging, a pool that is not a queue (``StaticPool``), an empty queue (the
checkout waits, or opens a connection), a connection due for recycling or replacement,
or one whose liveness is in doubt (the checkout pings it). An overflow connection goes
back through the pool's own return, which closes it (in a greenlet on asyncio). A
connection that a read left in a transaction, or whose read failed at the transport or
was cancelled, is discarded (invalidated) rather than reset, since the lane has no reset
to run; a lost one marks the pool's older connections for replacement too, as SQLAlchemy
does.

The pool's private names it needs are in :mod:`sqlops._internals`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from . import _internals, _metrics

_ATTRIBUTE = "_sqlops_lane"


@dataclass(frozen=True)
class Lane:
    """How one engine's idle connections are checked and given back on the lane."""

    signature: tuple[Any, ...]  # the pool as sqlops left it (_internals.pool_signature)
    ready: Callable[[Any], bool] | None  # record -> may be handed out as is (None: always)
    clean: Callable[[Any], bool]  # driver connection -> no transaction left open
    idle_key: str | None  # record.info key of the idle-since time the liveness check reads
    blocking: bool  # a sync driver: the pool may close a connection in place (no greenlet)


Taken = tuple[Lane, Any, Any]  # the lane, the pool, the connection record


def install(
    engine: Engine,
    *,
    clean: Callable[[Any], bool],
    ready: Callable[[Any], bool] | None = None,
    idle_key: str | None = None,
    blocking: bool = False,
) -> None:
    """Let template reads on ``engine`` use the lane while its pool stays as it is now.

    Called once sqlops has attached its own listeners: a listener added later (by the
    application) changes the pool's signature and turns the lane off.
    """
    signature = _internals.pool_signature(engine.pool)
    if signature is not None and not signature[0]:  # never with pre_ping: its ping is IO
        setattr(engine, _ATTRIBUTE, Lane(signature, ready, clean, idle_key, blocking))


def take(engine: Engine) -> Taken | None:
    """An idle pooled connection for a template read, or None: check one out as usual."""
    lane: Lane | None = getattr(engine, _ATTRIBUTE, None)
    if lane is None:
        return None
    pool = engine.pool
    if _internals.queue_pool_signature(pool) != lane.signature:  # a queue pool when installed
        return None
    timed = getattr(pool, _metrics.WAIT_ATTRIBUTE, None)  # sqlops' metrics time each wait
    started = time.perf_counter() if timed is not None else 0.0
    record = _internals.take_idle(pool)
    if record is None:
        return None
    try:
        ready = lane.ready is None or lane.ready(record)
    except BaseException:
        _internals.return_idle(pool, record)  # untouched: refused (another event loop's)
        raise
    if not ready:
        _internals.return_idle(pool, record)  # the ordinary checkout pings or replaces it
        return None
    if timed is not None:
        _metrics.record_wait(timed, time.perf_counter() - started)
    return lane, pool, record


def give_back(taken: Taken) -> Callable[[], None] | None:
    """Return a connection after its read; one left in a transaction is discarded.

    An overflow connection (the pool's queue is full) is closed by the pool instead, and
    closing one politely is IO: on asyncio that is returned, to be called where the driver
    can do IO (in ``greenlet_spawn``); otherwise None, and nothing is left to do (a sync
    driver's connection is closed in place).
    """
    lane, pool, record = taken
    if record.dbapi_connection is not None:
        if not lane.clean(record.driver_connection):
            record.invalidate()  # closed without IO: the pool's reset is not run here
        elif not lane.blocking and _internals.queue_full(pool):
            return functools.partial(_internals.return_idle, pool, record)
        elif lane.idle_key is not None:
            record.info[lane.idle_key] = time.monotonic()
    _internals.return_idle(pool, record)
    return None


def discard(taken: Taken, exc: BaseException) -> None:
    """Close the connection of a read cut off midway (its state is unknown) and return it."""
    _lane, pool, record = taken
    record.invalidate(exc)
    _internals.return_idle(pool, record)


def invalidate_all(taken: Taken, exc: BaseException) -> None:
    """The connection was lost: close it, and mark the pool's older ones for replacement."""
    _lane, pool, record = taken
    _internals.invalidate_older(pool, exc)
    record.invalidate(exc)
