"""Record what one learning step reads and writes, so it can be replayed without its tree.

Facts cross files, so learning sweeps every fact-bearing file several times (values,
providers, values again, classes, helpers). Keeping every parsed tree alive for
those sweeps made peak memory grow with the tree: about 1 KB per line. Instead a
step runs once on a freshly parsed file while the project records, in order, every
fact it reads (with the answer) and every fact it writes. Later, the same step is
*replayed*: each recorded read is asked again, and each write applied. A step is a
deterministic function of its file and the answers it got, so when every answer is
the same the replay is exactly what running it would do. When one differs, the
writes made so far are undone and the file is parsed again to run the step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Event = tuple[Any, ...]
Events = list[Event]


class Journal:
    """Give `Project` its recording, undo and replay (mixed in; see the module docstring)."""

    def __init__(self) -> None:
        self._events: Events | None = None
        self._seen: set[tuple[str, tuple[Any, ...]]] = set()
        self._undo: list[Callable[[], object]] | None = None

    # -- used by Project's readers and writers -----------------------------

    def _read(self, reader: str, args: tuple[Any, ...], answer: Any) -> Any:
        events = self._events
        if events is not None and (reader, args) not in self._seen:
            self._seen.add((reader, args))  # asked again before any write: same answer
            events.append(("read", reader, args, answer))
        return answer

    def _wrote(self, event: Event, undo: Callable[[], object] | None) -> None:
        if self._events is not None:
            self._events.append(event)
            self._seen.clear()
        if self._undo is not None and undo is not None:
            self._undo.append(undo)

    # -- recording and replay ---------------------------------------------

    def record(self, step: Callable[[], object]) -> Events:
        """Run ``step`` and return what it read and wrote."""
        self._events, self._seen = [], set()
        try:
            step()
            return self._events
        finally:
            self._events = None

    def speculate(self, step: Callable[[], object]) -> Events:
        """Record ``step`` against the facts known now, then undo its writes."""
        self._undo = []
        try:
            return self.record(step)
        finally:
            self._rollback()

    def replay(self, events: Events) -> bool:
        """Apply a recorded step if every read answers the same now; else change nothing."""
        self._undo = []
        try:
            for event in events:
                if event[0] == "read":
                    _, reader, args, answer = event
                    if getattr(self, f"_{reader}")(*args) != answer:  # the raw reader
                        self._rollback()
                        return False
                else:
                    getattr(self, event[0])(*event[1:])
            return True
        finally:
            self._undo = None

    def _rollback(self) -> None:
        undo, self._undo = self._undo or [], None
        for action in reversed(undo):
            action()
