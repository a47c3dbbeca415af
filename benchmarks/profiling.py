"""``python -m benchmarks profile``: where an implementation spends its time, with pyinstrument.

Profiles one operation per implementation (sqlops and Core by default) after a warm-up, and
prints pyinstrument's call tree (or writes HTML), so the overhead over the driver can be
traced to functions.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path

from . import workload
from .implementation import available, method, names
from .runner import Inputs
from .table import BenchTable
from .target import BACKENDS, provision
from .workload import OPERATIONS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks profile")
    parser.add_argument("--backend", choices=BACKENDS, default="postgresql")
    parser.add_argument("--url", help="server to create the db on (default: the local one)")
    parser.add_argument("--op", action="append", choices=OPERATIONS, help="default: all")
    parser.add_argument("--impl", action="append", choices=names(), help="default: sqlops, core")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--html", metavar="DIR", help="write one HTML report per profile")
    parser.add_argument("--interval", type=float, default=0.0002, help="sampling interval (s)")
    ns = parser.parse_args(argv)
    asyncio.run(_profile(ns))
    return 0


async def _profile(ns: argparse.Namespace) -> None:
    from pyinstrument import Profiler

    sizes = workload.QUICK if ns.quick else workload.FULL
    inputs = Inputs.build(sizes)
    wanted = ns.impl or ["sqlops", "core"]
    async with provision(ns.backend, ns.url) as target:
        table = BenchTable(target)
        await table.open()
        try:
            for cls in available(ns.backend, wanted):
                impl = cls(target)
                await impl.open()
                try:
                    for op in ns.op or OPERATIONS:
                        if op in impl.skips:
                            continue
                        await table.reset(inputs.start_state(op)[1])
                        await getattr(impl, method(op))(*inputs.arguments(op))  # warm-up
                        await table.reset(inputs.start_state(op)[1])
                        profiler = Profiler(interval=ns.interval, async_mode="enabled")
                        profiler.start()
                        await getattr(impl, method(op))(*inputs.arguments(op))
                        profiler.stop()
                        _emit(profiler, impl.name, op, ns.html)
                finally:
                    await impl.close()
        finally:
            await table.close()


def _emit(profiler: object, impl: str, op: str, html_dir: str | None) -> None:
    title = f"{impl} / {op}"
    if html_dir:
        path = Path(html_dir) / f"profile-{impl}-{op}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(profiler.output_html())  # type: ignore[attr-defined]
        print(f"{title}: {path}")
        return
    print(f"\n===== {title} =====")
    print(profiler.output_text(unicode=True, color=False, show_all=False))  # type: ignore[attr-defined]
