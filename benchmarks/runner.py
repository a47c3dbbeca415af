"""Run every implementation through every operation, in rounds, and check their rows.

Each round visits the operations in turn and, within one, every implementation in an order
rotated by one place per round, so no implementation is always first (cold) or last (after
the others warmed the server). Before each timed run the table is reset to the state that
operation starts from; after it, in the first round, the rows are checked.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import URL

from . import machine, workload
from .implementation import Implementation, available, method
from .results import Measurement, Run
from .table import BenchTable
from .target import DEFAULT_MYSQL_URL, DEFAULT_SERVER_URL, Target, provision
from .workload import OPERATIONS, WRITES, Row, Sizes

Progress = Callable[[str], None]


@dataclass
class Config:
    """What to run: backends, rounds, sizes, and optionally a subset of implementations/ops."""

    backends: tuple[str, ...] = ("postgresql",)
    rounds: int = 5
    sizes: Sizes = field(default_factory=Sizes)
    server_url: str | URL = DEFAULT_SERVER_URL  # PostgreSQL
    mysql_url: str | URL = DEFAULT_MYSQL_URL  # MariaDB / MySQL
    only: tuple[str, ...] = ()
    ops: tuple[str, ...] = OPERATIONS
    verify: bool = True
    warmup: bool = True
    classes: tuple[type[Implementation], ...] = ()  # instead of the registry (tests)

    def server(self, backend: str) -> str | URL:
        """The server ``backend``'s throwaway database is created on (unused for SQLite)."""
        return self.mysql_url if backend == "mysql" else self.server_url


@dataclass
class Inputs:
    """The inputs and expected results of every operation, computed once."""

    sizes: Sizes
    seed: list[Row]
    insert_rows: list[dict[str, Any]]
    upsert_seed: list[Row]
    upsert_rows: list[dict[str, Any]]
    upsert_expected: list[Row]
    ids: list[int]
    page_numbers: list[int]
    page_expected: list[tuple[list[Row], int]]
    tx_ids: list[int]
    changes: list[tuple[int, str]]
    tx_update_expected: list[Row]

    @classmethod
    def build(cls, sizes: Sizes) -> Inputs:
        return cls(
            sizes=sizes,
            seed=workload.seed_rows(sizes.rows),
            insert_rows=workload.insert_input(sizes),
            upsert_seed=workload.upsert_seed(sizes),
            upsert_rows=workload.upsert_input(sizes),
            upsert_expected=workload.upsert_expected(sizes),
            ids=workload.get_ids(sizes),
            page_numbers=workload.page_numbers(sizes),
            page_expected=workload.page_expected(sizes),
            tx_ids=workload.get_ids(sizes, count=sizes.tx_gets),
            changes=[(i, workload.updated_name(i)) for i in workload.tx_update_ids(sizes)],
            tx_update_expected=workload.tx_update_expected(sizes),
        )

    def start_state(self, op: str) -> tuple[str, list[Row]]:
        """The table state ``op`` starts from, with a label (reads can share one)."""
        if op == "insert":
            return "empty", []
        if op == "upsert":
            return "upsert", self.upsert_seed
        return "seeded", self.seed

    def arguments(self, op: str) -> tuple[Any, ...]:
        """Fresh arguments for one call (write inputs are copied: nobody sees another's edits)."""
        if op == "insert":
            return ([dict(r) for r in self.insert_rows],)
        if op == "upsert":
            return ([dict(r) for r in self.upsert_rows],)
        if op == "get":
            return (list(self.ids),)
        if op == "tx-get":
            return (list(self.tx_ids),)
        if op == "tx-update":
            return (list(self.changes),)
        if op == "stream":
            return (self.sizes.batch,)
        return (list(self.page_numbers), self.sizes.per_page, workload.LIKE_PATTERN)


async def run(config: Config, progress: Progress | None = None) -> Run:
    """Run the benchmark described by ``config`` and return what it measured."""
    say = progress or (lambda _: None)
    result = Run(machine=machine.describe(), config=_describe(config))
    inputs = Inputs.build(config.sizes)
    for backend in config.backends:
        async with provision(backend, config.server(backend)) as target:
            await _run_backend(target, config, inputs, result, say)
    result.machine["load_after"] = machine.load()
    return result


async def _run_backend(
    target: Target, config: Config, inputs: Inputs, result: Run, say: Progress
) -> None:
    table = BenchTable(target)
    await table.open()
    result.machine.setdefault("servers", {})[target.backend] = await table.server_version()
    classes = config.classes or available(target.backend, list(config.only) or None)
    impls = [cls(target) for cls in classes]
    opened: list[Implementation] = []
    try:
        for impl in impls:
            await impl.open()
            opened.append(impl)
            result.notes.setdefault(impl.name, {}).update(impl.notes)
            if impl.raw:
                result.raw[target.backend] = impl.name
        # Everything alive now (modules, engines, inputs) is moved out of the collector's
        # reach, so the gc.collect() before each timed run costs milliseconds, not 0.3 s.
        gc.collect()
        gc.freeze()
        await _rounds(table, opened, config, inputs, result, say)
    finally:
        gc.unfreeze()
        for impl in opened:
            await impl.close()
        await table.close()


async def _rounds(
    table: BenchTable,
    impls: list[Implementation],
    config: Config,
    inputs: Inputs,
    result: Run,
    say: Progress,
) -> None:
    backend = table.target.backend
    cells = {
        (impl.name, op): Measurement(backend, impl.name, op, config.sizes.items(op))
        for impl in impls  # implementation-major: the tables keep the registry's order
        for op in config.ops
        if op not in impl.skips
    }
    result.measurements.extend(cells.values())
    if config.warmup:
        say(f"{backend}: warming up {len(impls)} implementations")
        await _warm_up(table, impls, config.ops)
    state = ""
    for number in range(config.rounds):
        for index, op in enumerate(config.ops):
            shift = (number + index) % len(impls)
            for impl in impls[shift:] + impls[:shift]:
                cell = cells.get((impl.name, op))
                if cell is None or cell.error:
                    continue
                state = await _prepare(table, inputs, op, state)
                check = config.verify and number == 0
                await _measure(table, impl, op, inputs, cell, check)
                if cell.error or op in WRITES:
                    state = ""  # the table changed (or may have)
        say(f"{backend}: round {number + 1}/{config.rounds} done")


async def _prepare(table: BenchTable, inputs: Inputs, op: str, state: str) -> str:
    label, rows = inputs.start_state(op)
    if label != state:
        await table.reset(rows)
    return label


async def _measure(
    table: BenchTable,
    impl: Implementation,
    op: str,
    inputs: Inputs,
    cell: Measurement,
    check: bool,
) -> None:
    args = inputs.arguments(op)
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    try:
        output = await getattr(impl, method(op))(*args)
    except Exception as exc:
        cell.error = f"{type(exc).__name__}: {exc}"[:500]
        return
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    cell.us_per_item.append(elapsed * 1e6 / cell.items)
    cell.cpu_us_per_item.append(cpu * 1e6 / cell.items)
    if check:
        cell.wrong = await _verify(table, impl, op, inputs, output)


async def _verify(
    table: BenchTable, impl: Implementation, op: str, inputs: Inputs, output: Any
) -> str | None:
    """None if ``output`` (and the table) are what ``op`` must produce, else the difference."""
    if op == "insert":
        got: Any = await table.snapshot()
        expected: Any = workload.seed_rows(inputs.sizes.rows)
    elif op == "upsert":
        got, expected = await table.snapshot(), inputs.upsert_expected
    elif op == "tx-update":
        got, expected = await table.snapshot(), inputs.tx_update_expected
    elif op in ("get", "tx-get"):
        got = [impl.row(o) if o is not None else None for o in output]
        expected = [workload.seed_row(i) for i in (inputs.ids if op == "get" else inputs.tx_ids)]
    elif op == "stream":
        got, expected = [impl.row(o) for o in output], inputs.seed
    else:
        got = [([impl.row(o) for o in items], int(total)) for items, total in output]
        expected = inputs.page_expected
    return None if got == expected else _difference(got, expected)


def _difference(got: list[Any], expected: list[Any]) -> str:
    if len(got) != len(expected):
        return f"{len(got)} results, expected {len(expected)}"
    for index, (a, b) in enumerate(zip(got, expected, strict=True)):
        if a != b:
            return f"result {index}: got {str(a)[:200]}, expected {str(b)[:200]}"
    return "differs"  # pragma: no cover


async def _warm_up(table: BenchTable, impls: list[Implementation], ops: tuple[str, ...]) -> None:
    """Run each operation once at a small size: connections, statement caches, imports."""
    small = Inputs.build(workload.TINY)
    for impl in impls:
        for op in ops:
            if op in impl.skips:
                continue
            await table.reset(small.start_state(op)[1])
            with contextlib.suppress(Exception):  # the timed run records the error
                await getattr(impl, method(op))(*small.arguments(op))


def _describe(config: Config) -> dict[str, Any]:
    return {
        "backends": list(config.backends),
        "rounds": config.rounds,
        "sizes": vars(config.sizes),
        "only": list(config.only),
        "ops": list(config.ops),
    }
