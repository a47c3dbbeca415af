"""The load generator: ``wrk`` with one Lua script per endpoint, results as JSON.

Each script picks a random id per request (seeded, so rounds repeat the same sequence)
and reports through ``done()`` as one ``WRK_JSON {...}`` line: requests, duration, every
error count and the latency percentiles, so nothing depends on wrk's human output.
"""

from __future__ import annotations

import json
import resource
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ENDPOINTS = ("get", "patch")

_COMMON = """
local max_id = 1
local counter = 0
local headers = {["Content-Type"] = "application/json"}

function init(args)
  max_id = tonumber(args[1])
  math.randomseed(tonumber(args[2]))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""

SCRIPTS = {
    "get": _COMMON
    + """
function request()
  return wrk.format("GET", "/users/" .. math.random(1, max_id))
end
""",
    "patch": _COMMON
    + """
function request()
  counter = counter + 1
  local body = '{"name": "patched-' .. counter .. '"}'
  return wrk.format("PATCH", "/users/" .. math.random(1, max_id), headers, body)
end
""",
}


class WrkError(Exception):
    """wrk failed, or printed no result line."""


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run saw, plus the CPU wrk itself spent (it shares the machine)."""

    requests: int
    duration_s: float
    errors: dict[str, int]  # connect, read, write, status (non-2xx/3xx), timeout
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    loadgen_cpu_s: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


class Wrk:
    """Writes the Lua scripts once; runs ``wrk -t1 -c N -d S --latency`` against a URL."""

    def __init__(self, connections: int, max_id: int, seed: int = 1) -> None:
        self.connections = connections
        self.max_id = max_id
        self.seed = seed
        self._dir = tempfile.TemporaryDirectory(prefix="sqlops-wrk-")
        self.scripts: dict[str, Path] = {}
        for endpoint, text in SCRIPTS.items():
            path = Path(self._dir.name) / f"{endpoint}.lua"
            path.write_text(text, encoding="utf-8")
            self.scripts[endpoint] = path

    def run(self, base_url: str, endpoint: str, seconds: int) -> WrkResult:
        """Load ``endpoint`` for ``seconds``; one thread, as the server needs the other core."""
        command = [
            "wrk",
            "-t1",
            f"-c{self.connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(self.scripts[endpoint]),
            f"{base_url}/",
            "--",
            str(self.max_id),
            str(self.seed),
        ]
        before = _children_cpu()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        cpu = _children_cpu() - before
        if done.returncode != 0:
            raise WrkError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
        return parse(done.stdout, cpu)

    def close(self) -> None:
        self._dir.cleanup()


def parse(output: str, loadgen_cpu_s: float = 0.0) -> WrkResult:
    """The result in the ``WRK_JSON`` line of wrk's output."""
    for line in output.splitlines():
        if line.startswith("WRK_JSON "):
            data = json.loads(line.removeprefix("WRK_JSON "))
            break
    else:
        raise WrkError(f"no WRK_JSON line in wrk's output:\n{output}")
    return WrkResult(
        requests=data["requests"],
        duration_s=data["duration_us"] / 1e6,
        errors={key: data[key] for key in ("connect", "read", "write", "status", "timeout")},
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        loadgen_cpu_s=loadgen_cpu_s,
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
