"""``python -m benchmarks.http``: whole HTTP requests, FastAPI + uvicorn under ``wrk``.

The peer harness (``python -m benchmarks``) times repository calls in a loop; this one
times what users run: a request through uvicorn, FastAPI, the data layer and PostgreSQL,
so sqlops' overhead is seen as a share of a whole request. Three apps
(:mod:`benchmarks.http_app`: sqlops, plain SQLAlchemy, raw asyncpg) serve
``GET /users/{id}`` and ``PATCH /users/{id}`` from one throwaway database; each is a
uvicorn subprocess, loaded in turn by ``wrk`` (:mod:`benchmarks.http_load`), the
implementations interleaved round by round. Reported per implementation and endpoint:
requests/s, latency p50/p99, and the server process's CPU per request — the steadier
figure, as wrk shares the machine with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from . import machine, workload
from .http_load import ENDPOINTS, Wrk, WrkError, WrkResult
from .http_server import IMPLEMENTATIONS, Server, ServerError, ServerOptions
from .table import BenchTable
from .target import DEFAULT_SERVER_URL, provision

FLOOR = "asyncpg"
LIBRARIES = ("fastapi", "starlette", "pydantic", "uvicorn", "httptools", "uvloop")


@dataclass
class Config:
    server_url: str = DEFAULT_SERVER_URL
    rounds: int = 3
    warmup: int = 3  # seconds of load before each timed window
    duration: int = 10  # seconds timed
    connections: int = 16
    pool_size: int = 10
    rows: int = 10_000
    loop: str = "asyncio"
    impls: tuple[str, ...] = IMPLEMENTATIONS


@dataclass(frozen=True)
class Sample:
    """One timed window: one implementation, one endpoint, one round."""

    impl: str
    endpoint: str
    round: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    server_cpu_us: float  # per request
    loadgen_cpu_us: float  # wrk's, per request
    errors: int  # socket errors and non-2xx/3xx answers; a sample exists only when 0
    load_1min: float  # the machine's load average as the window ended


@dataclass
class Result:
    config: Config
    machine: dict[str, Any]
    samples: list[Sample] = field(default_factory=list)

    def median(self, impl: str, endpoint: str, key: str) -> float:
        values = [getattr(s, key) for s in self.samples if (s.impl, s.endpoint) == (impl, endpoint)]
        return float(statistics.median(values))

    def summary(self) -> list[dict[str, Any]]:
        """Per implementation and endpoint: the medians over rounds and the ratios to the floor."""
        rows = []
        for impl in self.config.impls:
            for endpoint in ENDPOINTS:
                row: dict[str, Any] = {"impl": impl, "endpoint": endpoint}
                for key in ("rps", "p50_ms", "p99_ms", "server_cpu_us", "loadgen_cpu_us"):
                    row[key] = self.median(impl, endpoint, key)
                if FLOOR in self.config.impls:
                    row["rps_ratio"] = row["rps"] / self.median(FLOOR, endpoint, "rps")
                    floor_cpu = self.median(FLOOR, endpoint, "server_cpu_us")
                    row["cpu_ratio"] = row["server_cpu_us"] / floor_cpu
                rows.append(row)
        return rows


class HarnessError(Exception):
    """A wrong answer or a failed request: the run's figures would mean nothing."""


def missing_dependency(loop: str = "asyncio") -> str | None:
    """A one-line message naming what to install, or ``None`` when all is there."""
    for module, install in (
        ("uvicorn", "pip install uvicorn (or pip install -e '.[bench]')"),
        ("fastapi", "pip install 'sqlops[fastapi]'"),
        ("asyncpg", "pip install 'sqlops[postgresql]'"),
    ):
        if importlib.util.find_spec(module) is None:
            return f"benchmarks.http needs {module}: {install}"
    if loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        return "--loop uvloop needs uvloop: pip install uvloop"
    if shutil.which("wrk") is None:
        return "benchmarks.http needs wrk on PATH: apt-get install wrk (or brew install wrk)"
    return None


async def run(config: Config) -> Result:
    """Provision a database, seed it, serve every app, check them, then time them."""
    result = Result(config, describe_machine(config))
    async with provision("postgresql", config.server_url) as target:
        table = BenchTable(target)
        await table.open()
        try:
            await table.reset(workload.seed_rows(config.rows))
        finally:
            await table.close()
        url = target.url.render_as_string(hide_password=False)
        options = ServerOptions(url, pool_size=config.pool_size, loop=config.loop)
        await asyncio.to_thread(_serve_and_measure, config, options, result)
    result.machine["load_after"] = machine.load()
    return result


def _serve_and_measure(config: Config, options: ServerOptions, result: Result) -> None:
    servers = {impl: Server(impl, options) for impl in config.impls}
    wrk = Wrk(config.connections, max_id=config.rows)
    try:
        for server in servers.values():
            server.start()
        check(servers, config.rows)
        for number in range(config.rounds):
            shift = number % len(config.impls)  # interleave: each round starts elsewhere
            for impl in config.impls[shift:] + config.impls[:shift]:
                for endpoint in ENDPOINTS:
                    sample = measure(servers[impl], wrk, endpoint, number + 1, config)
                    result.samples.append(sample)
                    _progress(sample)
    finally:
        wrk.close()
        for server in servers.values():
            server.stop()


def check(servers: dict[str, Server], rows: int) -> None:
    """Every app answers the seeded row, 404s a missing one, and commits its PATCH.

    The PATCH is read back through another app's server, so it was committed, not
    only visible inside the writer's session.
    """
    witness = servers.get(FLOOR) or next(iter(servers.values()))
    for number, (impl, server) in enumerate(servers.items()):
        seeded = 7 + number
        want = {"id": seeded, "email": workload.email(seeded), "name": workload.name(seeded)}
        _expect(impl, "GET", server.request("GET", f"/users/{seeded}"), 200, want)
        _expect(impl, "GET missing", server.request("GET", f"/users/{rows + 1}"), 404)
        patched = 100 + number
        body = {"name": f"checked-{impl}"}
        want = {"id": patched, "email": workload.email(patched), "name": body["name"]}
        _expect(impl, "PATCH", server.request("PATCH", f"/users/{patched}", body), 200, want)
        _expect(impl, "GET after PATCH", witness.request("GET", f"/users/{patched}"), 200, want)


def _expect(impl: str, what: str, got: tuple[int, Any], status: int, body: Any = None) -> None:
    if got[0] != status or (body is not None and got[1] != body):
        raise HarnessError(
            f"{impl}: {what} answered {got[0]} {got[1]!r}, expected {status} {body!r}"
        )


def measure(server: Server, wrk: Wrk, endpoint: str, number: int, config: Config) -> Sample:
    """Warm up, then one timed wrk window with the server's CPU time read around it."""
    if config.warmup:
        _no_errors(server.impl, endpoint, wrk.run(server.base_url, endpoint, config.warmup))
    before = server.cpu_seconds()
    timed = wrk.run(server.base_url, endpoint, config.duration)
    cpu = server.cpu_seconds() - before
    _no_errors(server.impl, endpoint, timed)
    return Sample(
        impl=server.impl,
        endpoint=endpoint,
        round=number,
        requests=timed.requests,
        rps=timed.rps,
        p50_ms=timed.p50_ms,
        p99_ms=timed.p99_ms,
        server_cpu_us=cpu / timed.requests * 1e6,
        loadgen_cpu_us=timed.loadgen_cpu_s / timed.requests * 1e6,
        errors=timed.error_count,
        load_1min=(machine.load() or [0.0])[0],
    )


def _no_errors(impl: str, endpoint: str, result: WrkResult) -> None:
    if result.requests == 0 or result.error_count:
        raise HarnessError(
            f"{impl} {endpoint.upper()}: {result.requests} requests, errors {result.errors}"
        )


def describe_machine(config: Config) -> dict[str, Any]:
    described = machine.describe()
    for name in LIBRARIES:
        try:
            described["libraries"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            described["libraries"][name] = None
    has_httptools = described["libraries"]["httptools"] is not None
    described["uvicorn_http"] = "httptools" if has_httptools else "h11"
    described["uvicorn_loop"] = config.loop
    described["git"] = _git_state()
    return described


def _git_state() -> dict[str, Any]:
    """The commit measured, and whether ``src/`` differed from it (uncommitted edits)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    return {
        "commit": git("rev-parse", "HEAD") or None,
        "src_dirty": bool(git("status", "--porcelain", "src")),
    }


# ----------------------------------------------------------------------------- report


def markdown(result: Result) -> str:
    """The table: implementation by endpoint, medians over rounds, ratios to asyncpg."""
    config, info = result.config, result.machine
    load_after = info.get("load_after", [])
    lines = [
        f"PostgreSQL, {config.rows:,} rows; uvicorn 1 worker, --loop {config.loop}, "
        f"HTTP parser {info['uvicorn_http']}; wrk -t1 -c{config.connections}, "
        f"{config.warmup} s warm-up + {config.duration} s timed, median of {config.rounds} "
        f"round(s); pool {config.pool_size}; {info['nproc']} CPUs, load "
        f"{_load(info['load_before'])} before, {_load(load_after)} after "
        "(wrk shares the machine).",
        "",
        "| implementation | endpoint | req/s | p50 ms | p99 ms | server CPU µs/req "
        "| req/s ÷ asyncpg | CPU ÷ asyncpg |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for row in result.summary():
        lines.append(
            f"| {row['impl']} | {row['endpoint'].upper()} | {row['rps']:,.0f} "
            f"| {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['server_cpu_us']:,.0f} "
            f"| {_ratio(row.get('rps_ratio'))} | {_ratio(row.get('cpu_ratio'))} |"
        )
    return "\n".join(lines)


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def _load(values: Sequence[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values) or "?"


def _progress(sample: Sample) -> None:
    print(
        f"  round {sample.round} {sample.impl:<10} {sample.endpoint.upper():<5} "
        f"{sample.rps:8,.0f} req/s  p50 {sample.p50_ms:6.2f} ms  p99 {sample.p99_ms:6.2f} ms  "
        f"server {sample.server_cpu_us:6,.0f} µs/req",
        file=sys.stderr,
        flush=True,
    )


def to_json(result: Result) -> dict[str, Any]:
    return {
        "harness": "benchmarks.http",
        "config": asdict(result.config),
        "machine": result.machine,
        "summary": result.summary(),
        "samples": [asdict(s) for s in result.samples],
    }


# ----------------------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> tuple[Config, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http", description=__doc__)
    parser.add_argument("--url", default=DEFAULT_SERVER_URL, help="PostgreSQL server")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 round, 1 s warm-up, 2 s timed")
    parser.add_argument("--warmup", type=int, help="seconds of warm-up per window (3)")
    parser.add_argument("--duration", type=int, help="seconds timed per window (10)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--only", action="append", choices=IMPLEMENTATIONS, help="repeatable")
    parser.add_argument("--json", type=Path, help="write the run as JSON")
    args = parser.parse_args(argv)
    quick = args.quick
    config = Config(
        server_url=args.url,
        rounds=1 if quick else args.rounds,
        warmup=args.warmup if args.warmup is not None else (1 if quick else 3),
        duration=args.duration if args.duration is not None else (2 if quick else 10),
        connections=args.connections,
        pool_size=args.pool_size,
        rows=args.rows,
        loop=args.loop,
        impls=tuple(i for i in IMPLEMENTATIONS if not args.only or i in args.only),
    )
    return config, args


def main(argv: Sequence[str] | None = None) -> int:
    config, args = parse_args(argv)
    problem = missing_dependency(config.loop)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    try:
        result = asyncio.run(run(config))
    except (HarnessError, ServerError, WrkError) as exc:
        print(f"benchmarks.http: FAILED: {exc}", file=sys.stderr)
        return 1
    print(markdown(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(to_json(result), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
