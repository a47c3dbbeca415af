"""The command line: ``python -m benchmarks [run options]``, ``… scale``, ``… profile``,
``… breakdown``, ``… lane``.

:func:`main` is what ``sqlops bench`` calls; it returns the exit status (1 when an
implementation failed or produced different rows, 2 on a usage error).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from . import workload
from .implementation import names
from .target import BACKENDS, DEFAULT_MYSQL_URL, DEFAULT_SERVER_URL
from .workload import OPERATIONS


def main(argv: Sequence[str] | None = None, prog: str = "python -m benchmarks") -> int:
    """Run the benchmark (or ``scale`` / ``profile``) and print the results.

    Always returns the exit status (``--help`` and usage errors included), never exits.
    ``prog`` is the command shown in the usage line (``sqlops bench`` passes its own).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] == "scale":
            from .scale import main as scale_main

            return scale_main(args[1:])
        if args and args[0] == "breakdown":
            from .breakdown import main as breakdown_main

            return breakdown_main(args[1:])
        if args and args[0] == "lane":
            from .lane import main as lane_main

            return lane_main(args[1:])
        if args and args[0] == "profile":
            from .profiling import main as profile_main

            return profile_main(args[1:])
        if args and args[0] == "run":
            args = args[1:]
        return _run(_parser(prog).parse_args(args))
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2


def _parser(prog: str = "python -m benchmarks") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="sqlops beside raw drivers, SQLAlchemy Core/ORM, advanced-alchemy and "
        "fastcrud, on a throwaway database. "
        "Sub-commands: scale, profile, breakdown, lane (see --help of each).",
    )
    parser.add_argument("--backend", choices=[*BACKENDS, "all"], default="postgresql")
    parser.add_argument(
        "--url", default=DEFAULT_SERVER_URL, help="PostgreSQL server to create the db on"
    )
    parser.add_argument(
        "--mysql-url", default=DEFAULT_MYSQL_URL, help="MariaDB/MySQL server to create the db on"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds (median is reported)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a first look")
    parser.add_argument("--only", action="append", choices=names(), help="implementation(s)")
    parser.add_argument("--op", action="append", choices=OPERATIONS, help="operation(s)")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--chart", metavar="PNG", help="draw the results (matplotlib)")
    parser.add_argument("--markdown", metavar="PATH", help="write the tables as Markdown")
    parser.add_argument("--from-json", metavar="PATH", help="report a saved run, run nothing")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return parser


def _run(ns: argparse.Namespace) -> int:
    from . import report
    from .implementation import missing
    from .results import Run
    from .runner import Config, run

    if ns.rounds < 1:
        print("--rounds must be >= 1", file=sys.stderr)
        return 2
    if ns.from_json:
        result = Run.load(ns.from_json)
    else:
        backends = BACKENDS if ns.backend == "all" else (ns.backend,)
        config = Config(
            backends=tuple(backends),
            rounds=ns.rounds,
            sizes=workload.QUICK if ns.quick else workload.FULL,
            server_url=ns.url,
            mysql_url=ns.mysql_url,
            only=tuple(ns.only or ()),
            ops=tuple(ns.op or OPERATIONS),
        )
        progress = None if ns.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
        for module, reason in missing().items():
            print(f"skipping {module}: {reason}", file=sys.stderr)
        result = asyncio.run(run(config, progress))
    report.print_run(result)
    if ns.json:
        result.save(ns.json)
    if ns.markdown:
        with open(ns.markdown, "w", encoding="utf-8") as f:
            f.write(report.markdown(result))
    if ns.chart:
        try:
            from .chart import draw

            draw(result, ns.chart)
        except ImportError as exc:
            print(f"--chart needs matplotlib ({exc})", file=sys.stderr)
            return 2
    return 1 if result.failures() else 0
