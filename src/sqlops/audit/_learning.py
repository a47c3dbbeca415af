"""Run the learning steps over every file, in dependency order, with flat memory.

Module-level names first, then providers (which often yield from those names),
names again (``async_db_session = make_factory(engine)``), providers afresh now
that every name is known, classes, and two rounds of statement helpers. A file
in memory (`Kept`: `check_source`, the recall harness) runs each step on its
tree. A file on disk (`Streamed`: `sqlops audit`) keeps only what each step read
and wrote (`Journal`): a step is replayed when the facts it read are unchanged,
and the file is parsed again only when they are not — so no tree outlives its
step, and peak memory does not grow with the size of the scanned tree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Protocol

from sqlops.audit._context import FileContext
from sqlops.audit._facts import (
    Outline,
    learn_classes,
    learn_providers,
    learn_sinks,
    learn_values,
)
from sqlops.audit._journal import Events
from sqlops.audit._project import Project

Step = Callable[[FileContext, Project], None]
STEPS: tuple[Step, ...] = (learn_values, learn_providers, learn_classes, learn_sinks)
_SINK_ROUNDS = 2  # a helper that hands the statement to another helper is found too


class Source(Protocol):
    """A file the steps can run on."""

    def run(self, step: Step, project: Project) -> None:
        """Run one learning step on this file."""


class Kept:
    """A file whose tree stays in memory."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx

    def run(self, step: Step, project: Project) -> None:
        """Run the step on the tree, with fresh caches."""
        step(self.ctx, project)
        self.ctx.reset()


class Streamed:
    """A file kept as the record of its steps; parsed again only when a record is stale."""

    def __init__(self, ctx: FileContext, load: Callable[[], FileContext], project: Project):
        self._load = load
        self.parses = 1
        self._records: dict[Step, Events] = {}
        for step in STEPS:  # against what is known now; checked again before use
            self._records[step] = project.speculate(partial(step, ctx, project))
            ctx.reset()

    def run(self, step: Step, project: Project) -> None:
        """Replay the step's record, or parse the file and run (and record) it."""
        record = self._records.get(step)
        if record is not None and project.replay(record):
            return
        ctx = self._load()
        self.parses += 1
        self._records[step] = project.record(partial(step, ctx, project))


def learn(
    contexts: Iterable[FileContext], project: Project, outlines: Sequence[Outline] = ()
) -> None:
    """Fill ``project`` with the facts of files held in memory."""
    run(
        [Kept(ctx) for ctx in contexts],
        project,
        outlines,
    )


def run(files: Sequence[Source], project: Project, outlines: Sequence[Outline] = ()) -> None:
    """Fill ``project`` with the facts of every file.

    ``outlines`` stand for files that cannot define a session fact (no SQLAlchemy or
    sqlops name in their text): they still contribute class bases, constants and
    dependency names, and the names they define make any same-named fact unknown,
    exactly as an unreadable definition in a kept file does.
    """
    for outline in outlines:
        outline.apply(project)
    _sweep(files, project, (learn_values, learn_providers, learn_values))
    # Providers again, from scratch, now that every value is known.
    project.functions.clear()
    project.methods.clear()
    project.fixtures.clear()
    for outline in outlines:
        outline.apply_names(project)
    _sweep(files, project, (learn_providers, learn_classes))
    for _ in range(_SINK_ROUNDS):
        for outline in outlines:
            outline.apply_sink_names(project)
        _sweep(files, project, (learn_sinks,))
        project.swap_sinks()


def _sweep(files: Sequence[Source], project: Project, steps: Sequence[Step]) -> None:
    for step in steps:
        for source in files:
            source.run(step, project)
