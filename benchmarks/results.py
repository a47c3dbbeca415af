"""What a run measured: per-round µs/item, medians, spread and ratios to the raw driver."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .workload import OPERATIONS

# sqlops ÷ the raw driver of the same backend, same run (issue 14's targets).
_SERVER_TARGETS = {
    "insert": 1.3,
    "get": 1.5,
    "page": 1.3,
    "upsert": 1.3,
    "tx-get": 1.5,
    "tx-update": 1.5,
    "stream": 2.0,
}
TARGETS = {
    "postgresql": _SERVER_TARGETS,
    "sqlite": {**_SERVER_TARGETS, "insert": 1.5, "upsert": 1.5},
    "mysql": _SERVER_TARGETS,
}
PEERS_TO_BEAT = ("core", "orm", "advanced-alchemy", "fastcrud")


@dataclass
class Measurement:
    """One implementation doing one operation on one backend, every round."""

    backend: str
    impl: str
    op: str
    items: int
    us_per_item: list[float] = field(default_factory=list)  # wall clock
    cpu_us_per_item: list[float] = field(default_factory=list)  # this process's CPU only
    error: str | None = None  # it raised
    wrong: str | None = None  # it ran but produced different rows

    @property
    def ok(self) -> bool:
        return self.error is None and self.wrong is None and bool(self.us_per_item)

    def values(self, metric: str = "wall") -> list[float]:
        """Per-round µs/item: ``"wall"`` clock, or ``"cpu"`` time of the client process."""
        return self.cpu_us_per_item if metric == "cpu" else self.us_per_item

    @property
    def median(self) -> float:
        return statistics.median(self.us_per_item)

    @property
    def spread(self) -> float:
        """(max - min) / median of the wall clock: how much the rounds disagree (0.1 = 10%)."""
        return spread(self.us_per_item)


def spread(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    return (max(values) - min(values)) / statistics.median(values)


@dataclass
class Run:
    """Everything one ``python -m benchmarks`` produced, serializable to JSON."""

    machine: dict[str, Any]
    config: dict[str, Any]
    measurements: list[Measurement] = field(default_factory=list)
    raw: dict[str, str] = field(default_factory=dict)  # backend -> reference implementation
    notes: dict[str, dict[str, str]] = field(default_factory=dict)  # impl -> op -> note

    def find(self, backend: str, impl: str, op: str) -> Measurement | None:
        for m in self.measurements:
            if (m.backend, m.impl, m.op) == (backend, impl, op):
                return m
        return None

    def backends(self) -> list[str]:
        return list(dict.fromkeys(m.backend for m in self.measurements))

    def impls(self, backend: str) -> list[str]:
        return list(dict.fromkeys(m.impl for m in self.measurements if m.backend == backend))

    def ops(self) -> list[str]:
        """The operations measured, in :data:`~benchmarks.workload.OPERATIONS` order."""
        found = dict.fromkeys(m.op for m in self.measurements)
        known = [op for op in OPERATIONS if op in found]
        return known + [op for op in found if op not in known]

    def ratio(self, backend: str, impl: str, op: str, metric: str = "wall") -> float | None:
        """Median over rounds of (impl ÷ raw driver) in the same round: noise cancels out."""
        m = self.find(backend, impl, op)
        ref = self.find(backend, self.raw.get(backend, ""), op)
        if m is None or ref is None or not (m.ok and ref.ok) or not m.values(metric):
            return None
        pairs = zip(m.values(metric), ref.values(metric), strict=False)
        return statistics.median(a / b for a, b in pairs if b > 0)

    def failures(self) -> list[Measurement]:
        return [m for m in self.measurements if m.error or m.wrong]

    def targets(self, backend: str = "postgresql", impl: str = "sqlops") -> list[dict[str, Any]]:
        """Each target ``impl`` has on ``backend``: the measured ratio or comparison, and
        whether it is met (operations ``impl`` did not run are left out)."""
        limits = TARGETS.get(backend, {})
        measured = [op for op in self.ops() if op in limits and self.find(backend, impl, op)]
        rows: list[dict[str, Any]] = []
        for op in measured:
            ratio = self.ratio(backend, impl, op)
            limit = limits[op]
            rows.append(
                {"target": f"{op} ≤ {limit:g}x raw", "measured": ratio, "met": _le(ratio, limit)}
            )
        for op in measured:
            rows += self._ahead(backend, impl, op)
        return rows

    def _ahead(self, backend: str, impl: str, op: str) -> list[dict[str, Any]]:
        """``impl`` faster than the fastest peer at ``op`` (measured: ``impl`` ÷ that peer)."""
        mine = self.find(backend, impl, op)
        peers = [self.find(backend, peer, op) for peer in PEERS_TO_BEAT]
        found = [m for m in peers if m is not None]
        if mine is None or not found:
            return []
        target = f"{op} faster than every peer"
        if not mine.ok or not all(m.ok for m in found):
            return [{"target": target, "measured": None, "met": False}]
        fastest = min(found, key=lambda m: m.median)
        measured = mine.median / fastest.median
        return [{"target": f"{target} ({fastest.impl})", "measured": measured, "met": measured < 1}]

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "config": self.config,
            "raw": self.raw,
            "notes": self.notes,
            "measurements": [
                {**asdict(m), "median": m.median if m.ok else None, "spread": m.spread}
                for m in self.measurements
            ],
            "ratios": {
                f"{b}/{i}/{o}": self.ratio(b, i, o)
                for b in self.backends()
                for i in self.impls(b)
                for o in self.ops()
            },
            "cpu_ratios": {
                f"{b}/{i}/{o}": self.ratio(b, i, o, "cpu")
                for b in self.backends()
                for i in self.impls(b)
                for o in self.ops()
            },
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Run:
        data = json.loads(Path(path).read_text())
        fields = Measurement.__dataclass_fields__
        measurements = [
            Measurement(**{k: v for k, v in m.items() if k in fields}) for m in data["measurements"]
        ]
        return cls(data["machine"], data["config"], measurements, data["raw"], data["notes"])


def _le(value: float | None, limit: float) -> bool:
    return value is not None and value <= limit
