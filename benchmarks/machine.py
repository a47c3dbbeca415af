"""The machine a run happened on: CPUs, load, Python, library and server versions."""

from __future__ import annotations

import os
import platform
import sqlite3
from importlib import metadata
from typing import Any

LIBRARIES = (
    "sqlops",
    "sqlalchemy",
    "asyncpg",
    "aiosqlite",
    "advanced-alchemy",
    "fastcrud",
    "pydantic",
    "greenlet",
)


def describe() -> dict[str, Any]:
    """A JSON-able description of this machine and its current load."""
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "libraries": {name: _version(name) for name in LIBRARIES},
        "load_before": load(),
    }


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages (compare with ``nproc``)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux/macOS
        return []


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
