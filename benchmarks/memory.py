"""Resident memory of this process: now, and at its peak since the last reset (Linux)."""

from __future__ import annotations

import resource
import sys


def status() -> dict[str, int]:
    """``VmRSS`` (now) and ``VmHWM`` (peak) in KiB, from ``/proc/self/status``."""
    found: dict[str, int] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(rest.split()[0])
    except OSError:  # pragma: no cover - not Linux
        pass
    if "VmHWM" not in found:  # pragma: no cover - not Linux
        found["VmHWM"] = max_rss_kib()
        found.setdefault("VmRSS", found["VmHWM"])
    return found


def max_rss_kib() -> int:
    """``ru_maxrss``: the peak since the process started (KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def reset_peak() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux ≥ 4.0); False if the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True
