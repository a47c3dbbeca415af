"""``python -m benchmarks scale``: sqlops at 1,000,000 rows.

* ``create_many`` from a generator: peak RSS growth and progress calls per chunk (with, for
  contrast, what the same rows take as a list);
* ``stream()`` over every row: RSS sampled while iterating (it should stay flat), beside the
  raw driver's cursor over the same rows;
* ``cursor_page`` at row 900,000 vs the first page, and offset ``page()`` at both depths.

Each measurement runs in its own subprocess (``benchmarks.scale_worker``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from . import machine
from .table import BenchTable
from .target import DEFAULT_SERVER_URL, provision

TASK_ORDER = ("materialized", "create_many", "stream", "raw_stream", "pages")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks scale")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--url", default=DEFAULT_SERVER_URL)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--json", metavar="PATH")
    ns = parser.parse_args(argv)
    count = 100_000 if ns.quick else ns.rows
    results = asyncio.run(run(ns.backend, ns.url, count))
    print_results(results)
    if ns.json:
        Path(ns.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if check(results) else 1


async def run(backend: str, server_url: str | URL, count: int) -> dict[str, Any]:
    """Run every scale task on a fresh database; return their results and the machine."""
    out: dict[str, Any] = {"backend": backend, "rows": count, "machine": machine.describe()}
    async with provision(backend, server_url) as target:
        table = BenchTable(target)
        await table.open()
        try:
            out["server"] = await table.server_version()
            url = target.url.render_as_string(hide_password=False)
            for task in TASK_ORDER:
                print(f"scale: {task} ({count:,} rows)…", file=sys.stderr, flush=True)
                out[task] = await asyncio.to_thread(_worker, task, url, count)
                if task == "create_many":
                    await table.analyze()
        finally:
            await table.close()
    out["machine"]["load_after"] = machine.load()
    return out


def _worker(task: str, url: str, count: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.scale_worker", task, url, str(count)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def check(results: dict[str, Any]) -> bool:
    """Whether every task ran and produced what it should."""
    ok = all("error" not in results[t] for t in TASK_ORDER)
    if ok:
        create, count = results["create_many"], results["rows"]
        ok = create["rows"] == count and results["stream"]["rows"] == count
    return ok


def print_results(results: dict[str, Any]) -> None:
    count = results["rows"]
    print(f"scale on {results['backend']} ({results.get('server')}), {count:,} rows")
    for task in TASK_ORDER:
        if "error" in results[task]:
            print(f"  {task}: FAILED {results[task]['error']}")
    create, listed = results["create_many"], results["materialized"]
    if "error" not in create:
        chunk = (create["progress_first"] or [count])[0]
        expected = math.ceil(count / max(chunk, 1))
        print(
            f"  create_many(generator): {create['seconds']:.1f} s "
            f"({create['us_per_row']:.1f} µs/row), peak RSS "
            f"+{_mib(create['peak_growth_kib'])} ({create['peak_method']}); "
            f"progress called {create['progress_calls']}x, once per chunk of {chunk:,} rows "
            f"({expected} chunks)"
        )
    if "error" not in listed:
        print(f"  the same rows as a list would take +{_mib(listed['peak_growth_kib'])}")
    streamed = results["stream"]
    if "error" not in streamed:
        print(
            f"  stream(): {streamed['seconds']:.1f} s ({streamed['us_per_row']:.1f} µs/row), RSS "
            f"{_mib(streamed['rss_first_sample_kib'])} after 10,000 rows, max "
            f"{_mib(streamed['rss_max_sample_kib'])} (drift +{_mib(streamed['rss_drift_kib'])})"
        )
    raw = results["raw_stream"]
    if "error" not in raw:
        print(f"  raw driver cursor over the same rows: {raw['us_per_row']:.1f} µs/row")
    paged = results["pages"]
    if "error" not in paged:
        print(
            f"  cursor_page: first {paged['cursor_first_ms']:.2f} ms, at row "
            f"{paged['deep_row']:,} {paged['cursor_deep_ms']:.2f} ms; offset page(): first "
            f"{paged['offset_first_ms']:.1f} ms, same depth {paged['offset_deep_ms']:.1f} ms"
        )
    load = (results["machine"].get("load_before"), results["machine"].get("load_after"))
    print(f"  load average before {load[0]}, after {load[1]}")


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"
