"""Where a call came from: the first frame outside sqlops and SQLAlchemy, and the task."""

from __future__ import annotations

import asyncio
import os
import sys
from types import FrameType
from typing import Any

import greenlet

# Frames of these modules are never "your code": SQLAlchemy, sqlops itself (the testing
# plugin included), the async drivers, and the machinery between them and you.
_LIBRARIES = (
    *("sqlalchemy", "sqlops", "greenlet", "asyncio", "contextlib", "functools", "anyio"),
    *("asyncpg", "asyncmy", "aiomysql", "aiosqlite", "psycopg"),
)
_LIBRARY_PACKAGES = tuple(f"{name}." for name in _LIBRARIES)


def _is_user_frame(frame: FrameType) -> bool:
    module = frame.f_globals.get("__name__", "")
    return not (module in _LIBRARIES or module.startswith(_LIBRARY_PACKAGES))


def user_frame() -> FrameType | None:
    """The innermost frame of application code in the running task (or thread).

    Inside ``greenlet_spawn`` the caller's coroutine frames are on the parent greenlet's
    stack, so when the current one holds only library frames we continue there. The walk
    stops at the task's own coroutine: beyond it lie the event loop and whatever started
    it, which say nothing about where the call came from.
    """
    top = getattr(_current_task_coro(), "cr_frame", None)
    frame: FrameType | None = sys._getframe(1)
    current: Any = greenlet.getcurrent()
    while True:
        while frame is not None:
            if _is_user_frame(frame):
                return frame
            if frame is top:
                return None
            frame = frame.f_back
        current = current.parent
        if current is None:
            return None
        frame = current.gr_frame


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop: plain sync code
        return None


def _current_task_coro() -> Any:
    task = _current_task()
    return task.get_coro() if task is not None else None


def _where(frame: FrameType | None) -> str:
    if frame is None:
        return "an unknown place"
    return f"{_short_path(frame.f_code.co_filename)}:{frame.f_lineno}"


def _short_path(path: str) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return path if relative.startswith("..") else relative
