"""One source for async and sync: drive sqlops' coroutines to the end without a loop.

The sync twin (:mod:`sqlops.sync`) runs the very coroutines of the async API over a
blocking driver. There, every awaitable they reach completes at once (SQLAlchemy's
``greenlet_spawn`` over a sync engine never suspends), so :func:`drive` finishes a
coroutine with one ``send(None)``. The few places that call asyncio themselves (the
retry backoff, shielded clean-up) ask :func:`blocking` which world they run in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from contextvars import ContextVar
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")

_blocking: ContextVar[bool] = ContextVar("sqlops_blocking", default=False)
_explicit: ContextVar[bool] = ContextVar("sqlops_explicit", default=False)


def blocking() -> bool:
    """Whether the running coroutine is being driven by :func:`drive` (no event loop)."""
    return _blocking.get()


def explicit() -> bool:
    """Whether sqlops itself is calling into a sync session (:func:`call_explicit`).

    The sync twin's stand-in for "inside ``greenlet_spawn``": loads made there were asked
    for (``load=``, ``refresh``), so the lazy-load guard lets them through.
    """
    return _explicit.get()


def call_explicit(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` as sqlops' own explicit session call (see :func:`explicit`).

    What ``greenlet_spawn`` gives an async session's calls, without starting a greenlet
    per call: over a blocking driver there is nothing to switch to.
    """
    if _explicit.get():
        return fn(*args, **kwargs)
    token = _explicit.set(True)
    try:
        return fn(*args, **kwargs)
    finally:
        _explicit.reset(token)


async def sleep(seconds: float) -> None:
    """``asyncio.sleep``, or ``time.sleep`` when driven without a loop."""
    if _blocking.get():
        time.sleep(seconds)  # noqa: ASYNC251 - no loop to block: the sync twin drives us
    else:
        await asyncio.sleep(seconds)


def drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion now; it must never really suspend.

    A suspension means something reached asyncio (an async driver, ``asyncio.sleep``):
    a bug in the sync twin, reported instead of hanging.
    """
    token = _blocking.set(True)
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        _blocking.reset(token)
    coro.close()
    raise RuntimeError(
        "sqlops.sync: an operation tried to wait for asyncio; this is a bug in sqlops "
        "(or an async driver in a sync Database)"
    )


def drive_iter(iterator: AsyncIterator[T]) -> Iterator[T]:
    """Iterate an async generator synchronously; closing it closes the generator."""
    try:
        while True:
            try:
                item: T = drive(iterator.__anext__())  # type: ignore[arg-type]
            except StopAsyncIteration:
                return
            yield item
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            drive(aclose())


class drive_context(AbstractContextManager[T]):  # a function in use: lower case
    """Enter and exit an async context manager synchronously.

    A class rather than a ``@contextmanager`` generator: the sync twin enters one per
    session and transaction, and a generator frame per unit of work is measurable there.
    """

    __slots__ = ("manager",)

    def __init__(self, manager: AbstractAsyncContextManager[T]) -> None:
        self.manager = manager

    def __enter__(self) -> T:
        return drive(self.manager.__aenter__())

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        return bool(drive(self.manager.__aexit__(typ, exc, tb)))
