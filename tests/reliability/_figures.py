"""Figures the reliability tests measure, printed in pytest's terminal summary.

Each test that measures something (retries, recovery time, lag) records it here, so a
run of the suite ends with the numbers that docs/reliability.md quotes.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

FIGURES: dict[str, str] = {}


def record(name: str, value: str) -> None:
    """Keep ``value`` under ``name`` for the end-of-run summary."""
    FIGURES[name] = value


def describe(seconds: Sequence[float]) -> str:
    """``median 12.3 ms, max 45.6 ms (n=10)`` for a list of durations in seconds."""
    ms = [s * 1000 for s in seconds]
    return f"median {statistics.median(ms):.1f} ms, max {max(ms):.1f} ms (n={len(ms)})"
