"""Draw a run as a PNG: one panel per operation and backend, µs/item on a log scale.

Bars are medians; the whiskers span the fastest and slowest round.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .report import OP_TITLES
from .results import Run

COLORS = {
    "asyncpg": "#555555",
    "aiosqlite": "#555555",
    "asyncmy": "#555555",
    "core": "#8da0cb",
    "orm": "#66c2a5",
    "advanced-alchemy": "#fc8d62",
    "fastcrud": "#e78ac3",
    "sqlops": "#d62728",
    "sqlops-injected": "#ff9896",
}


def draw(run: Run, path: str | Path) -> Path:
    """Write the chart to ``path`` (PNG) and return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends, ops = run.backends(), run.ops()
    fig, axes = plt.subplots(
        len(backends), len(ops), figsize=(3.2 * len(ops), 3.4 * len(backends)), squeeze=False
    )
    for row, backend in enumerate(backends):
        for col, op in enumerate(ops):
            _panel(axes[row][col], run, backend, op)
    fig.suptitle(_caption(run), fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _panel(ax: Any, run: Run, backend: str, op: str) -> None:
    names, medians, lows, highs, colors = [], [], [], [], []
    for impl in run.impls(backend):
        m = run.find(backend, impl, op)
        if m is None or not m.ok:
            continue
        names.append(impl)
        medians.append(m.median)
        lows.append(m.median - min(m.us_per_item))
        highs.append(max(m.us_per_item) - m.median)
        colors.append(COLORS.get(impl, "#999999"))
    from matplotlib.ticker import FuncFormatter

    positions = range(len(names))
    ax.bar(positions, medians, color=colors, yerr=[lows, highs], capsize=2)
    ax.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:,.0f}" if value >= 1 else f"{value:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))
    ax.set_xticks(list(positions), names, rotation=60, ha="right", fontsize=7)
    ax.set_title(f"{backend}: {OP_TITLES.get(op, op)}", fontsize=9)
    ax.set_ylabel("µs per item (log)", fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    for x, value, high in zip(positions, medians, highs, strict=True):
        label = f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
        ax.annotate(label, (x, value + high), ha="center", va="bottom", fontsize=6)
    ax.margins(y=0.15)


def _caption(run: Run) -> str:
    m = run.machine
    return (
        f"sqlops peer benchmark — {m.get('nproc')} x {m.get('cpu')}, Python {m.get('python')}, "
        f"median of {run.config.get('rounds')} rounds (whiskers: min-max); lower is better"
    )
