"""The leak report: sessions never closed, listed with where they were opened."""

from __future__ import annotations

import traceback
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from ._callsites import (
    _is_user_frame,
    _short_path,
)


class SessionLeakWarning(UserWarning):
    """A session was never closed (reported when its Database is disposed)."""


class SessionTracker:
    """Remember where each session was opened until it is closed; report the rest."""

    def __init__(self) -> None:
        self._open: dict[int, tuple[weakref.ref[Any], traceback.StackSummary]] = {}
        self._collected: list[traceback.StackSummary] = []

    def opened(self, session: AsyncSession | Session) -> None:
        key = id(session)
        ref = weakref.ref(session, lambda _: self._forget(key, collected=True))
        self._open[key] = (ref, _opening_stack())

    def closed(self, session: AsyncSession | Session) -> None:
        self._forget(id(session), collected=False)

    def _forget(self, key: int, *, collected: bool) -> None:
        entry = self._open.pop(key, None)
        if entry is not None and collected:
            self._collected.append(entry[1])

    def leaks(self) -> list[traceback.StackSummary]:
        """Where every session that was never closed was opened."""
        return [stack for _, stack in self._open.values()] + self._collected

    def report(self, owner: str) -> None:
        """Warn once about every leaked session, then forget them."""
        stacks = self.leaks()
        self._open.clear()
        self._collected.clear()
        if stacks:
            warnings.warn(_leak_message(owner, stacks), SessionLeakWarning, stacklevel=3)


def _opening_stack() -> traceback.StackSummary:
    """The innermost few frames of application code (paths relative to the cwd)."""
    frames = [(f, f.f_lineno) for f, _ in traceback.walk_stack(None) if _is_user_frame(f)]
    frames.reverse()
    stack = traceback.StackSummary.extract(iter(frames[-4:]), capture_locals=False)
    for summary in stack:
        summary.filename = _short_path(summary.filename)
    return stack


def _leak_message(owner: str, stacks: list[traceback.StackSummary]) -> str:
    fix = (  # the sync twin's Database names itself "sync.Database(...)"
        "`with db.session()` / `db.transaction()`, and contextlib.closing()"
        if owner.startswith("sync.")
        else "`async with db.session()` / `db.transaction()`, and contextlib.aclosing()"
    )
    lines = [
        f"{len(stacks)} session(s) of {owner} were never closed; each held its connection "
        f"and transaction until garbage collection. Use {fix} around a Repository.stream() "
        "you stop early."
    ]
    for number, stack in enumerate(stacks, 1):
        lines.append(f"  session {number} opened at:")
        lines.extend(_indent(stack.format()))
    return "\n".join(lines)


def _indent(chunks: list[str]) -> Iterator[str]:
    for chunk in chunks:
        for line in chunk.rstrip("\n").splitlines():
            yield "    " + line
