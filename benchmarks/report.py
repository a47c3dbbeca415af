"""Print a run: µs/item per implementation and operation, the ratio to the raw driver, targets.

Uses rich when it is installed, plain aligned text otherwise; :func:`markdown` renders the
same table for ``docs/benchmarks.md``.
"""

from __future__ import annotations

import statistics
import sys
from typing import Any, TextIO

from .results import Measurement, Run, spread

OP_TITLES = {
    "insert": "insert",
    "get": "get",
    "page": "page+count",
    "upsert": "upsert",
    "tx-get": "tx-get",
    "tx-update": "tx-update",
    "stream": "stream",
}
MODES = ("sqlops", "sqlops-injected")  # whose targets are checked


METRICS = {
    "wall": "µs per item (wall clock)",
    "cpu": "client CPU µs per item (this process only: the libraries' own cost, "
    "robust to a busy machine)",
}


def cell(run: Run, m: Measurement | None, metric: str = "wall") -> str:
    """``12.3 µs  2.1x  ±4%``; ``error`` / ``WRONG`` when it failed."""
    if m is None:
        return "—"
    if m.error:
        return "error"
    if m.wrong:
        return "WRONG"
    values = m.values(metric)
    if not values:
        return "—"
    text = f"{_us(statistics.median(values))} µs"
    ratio = run.ratio(m.backend, m.impl, m.op, metric)
    if ratio is not None and m.impl != run.raw.get(m.backend):
        text += f"  {ratio:.2f}x"
    if len(values) > 1:
        text += f"  ±{spread(values) * 50:.0f}%"
    return text


def _us(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def rows(run: Run, backend: str, metric: str = "wall") -> tuple[list[str], list[list[str]]]:
    """Header and body of one backend's table."""
    ops = run.ops()
    header = ["implementation", *(OP_TITLES.get(op, op) for op in ops)]
    body = [
        [impl, *(cell(run, run.find(backend, impl, op), metric) for op in ops)]
        for impl in run.impls(backend)
    ]
    return header, body


def target_rows(run: Run, backend: str = "postgresql", impl: str = "sqlops") -> list[list[str]]:
    out = []
    for t in run.targets(backend, impl):
        measured = t["measured"]
        value = "—" if measured is None else f"{measured:.2f}x"
        out.append([t["target"], value, "yes" if t["met"] else "no"])
    return out


def print_run(run: Run, out: TextIO | None = None) -> None:
    """Print every backend's table, the targets, failures and notes."""
    out = out or sys.stdout
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is optional
        _print_plain(run, out)
        return
    console = Console(file=out, width=None if out.isatty() else 140)
    for backend, metric in _tables(run):
        header, body = rows(run, backend, metric)
        table = Table(title=_title(run, backend, metric), title_justify="left")
        for index, name in enumerate(header):
            table.add_column(name, justify="left" if index == 0 else "right")
        for line in body:
            table.add_row(*line)
        console.print(table)
    for backend, impl, lines in _target_tables(run):
        table = Table(title=_target_title(run, backend, impl), title_justify="left")
        for name in ("target", "measured", "met"):
            table.add_column(name)
        for line in lines:
            table.add_row(*line)
        console.print(table)
    for text in _footer(run):
        console.print(text, highlight=False, markup=False)


def _tables(run: Run) -> list[tuple[str, str]]:
    return [(backend, metric) for metric in METRICS for backend in run.backends()]


def _target_tables(run: Run) -> list[tuple[str, str, list[list[str]]]]:
    """``(backend, impl, rows)`` for each sqlops mode measured beside a raw driver."""
    out = []
    for backend in run.backends():
        if backend not in run.raw:
            continue
        for impl in MODES:
            lines = target_rows(run, backend, impl)
            if lines:
                out.append((backend, impl, lines))
    return out


def _target_title(run: Run, backend: str, impl: str) -> str:
    return f"{impl} targets on {backend} (÷ {run.raw[backend]}, same run)"


def _print_plain(run: Run, out: TextIO) -> None:
    for backend, metric in _tables(run):
        header, body = rows(run, backend, metric)
        print(_title(run, backend, metric), file=out)
        print(_align([header, *body]), file=out)
        print(file=out)
    for backend, impl, lines in _target_tables(run):
        print(_target_title(run, backend, impl), file=out)
        print(_align([["target", "measured", "met"], *lines]), file=out)
        print(file=out)
    for line in _footer(run):
        print(line, file=out)


def _align(lines: list[list[str]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )


def _title(run: Run, backend: str, metric: str = "wall") -> str:
    raw = run.raw.get(backend, "?")
    rounds = run.config.get("rounds")
    return (
        f"{backend}: {METRICS[metric]}, median of {rounds} rounds; x = ratio to {raw} "
        "(median of per-round ratios); ± = half the min-max spread"
    )


def _footer(run: Run) -> list[str]:
    lines = [f"FAILED {m.backend}/{m.impl}/{m.op}: {m.error or m.wrong}" for m in run.failures()]
    for impl, notes in run.notes.items():
        lines += [f"note: {impl} {op}: {text}" for op, text in notes.items()]
    load = (run.machine.get("load_before"), run.machine.get("load_after"))
    lines.append(
        f"machine: {run.machine.get('nproc')} x {run.machine.get('cpu')}; "
        f"load average before {load[0]}, after {load[1]}"
    )
    return lines


def markdown(run: Run) -> str:
    """The tables as Markdown (for docs/benchmarks.md)."""
    parts: list[str] = []
    for backend, metric in _tables(run):
        header, body = rows(run, backend, metric)
        parts.append(f"**{_title(run, backend, metric)}**\n")
        parts.append(_md_table(header, body))
    for backend, impl, lines in _target_tables(run):
        parts.append(f"**{_target_title(run, backend, impl)}**\n")
        parts.append(_md_table(["target", "measured", "met"], lines))
    return "\n".join(parts)


def _md_table(header: list[str], body: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in line) + " |" for line in body]
    return "\n".join(lines) + "\n"
