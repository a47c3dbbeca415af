"""The ``sqlops audit`` / ``python -m sqlops.audit`` command line (argparse only).

Exit codes: 0 no findings, 1 findings, 2 usage error — a missing path, an
unknown rule code, a bad ``[tool.sqlops.audit]`` section, or a file that does not
parse. Unparsable files are listed on stderr, the other files are still checked
and reported, and the exit code is 2 (a partial check must not look green).
``--exit-zero`` turns 1 into 0; it does not hide usage errors.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from sqlops.audit._config import ConfigError, load_config
from sqlops.audit._engine import UnknownRuleError, audit, select_rules
from sqlops.audit._reporters import RENDERERS, render_text
from sqlops.audit.rules import RULES

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the audit command line and return its exit code (never raises SystemExit).

    A reader that stops early (``sqlops audit --list-rules | head``) ends the
    output quietly instead of with a ``BrokenPipeError`` traceback.
    """
    try:
        code = _main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_CLEAN
    return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (captured output)
        pass


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    if args.list_rules:
        print(_rule_table())
        return EXIT_CLEAN
    if not args.paths:
        parser.print_usage(sys.stderr)
        print("sqlops audit: error: give at least one PATH", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _run(args)
    except (ConfigError, UnknownRuleError, FileNotFoundError) as error:
        print(f"sqlops audit: error: {error}", file=sys.stderr)
        return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    config = load_config(args.paths[0])
    select = args.select if args.select is not None else config.select
    ignore = [*config.ignore, *(args.ignore or ())]
    rules = select_rules(select, ignore)
    report = audit(
        args.paths, select=select, ignore=ignore, exclude=config.exclude, root=config.root
    )
    for error in report.errors:
        where = f"{error.filename}:{error.lineno or 1}:{error.offset or 1}"
        print(f"{where}: syntax error: {error.msg} (file not checked)", file=sys.stderr)
    checked = report.files - len(report.errors)
    if args.format == "text":
        unchecked = [str(error.filename) for error in report.errors]
        print(render_text(report.findings, rules, checked, unchecked))
    else:
        print(RENDERERS[args.format](report.findings, rules, checked))
    if report.errors:
        return EXIT_USAGE
    return EXIT_FINDINGS if report.findings and not args.exit_zero else EXIT_CLEAN


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sqlops audit",
        description="Find async SQLAlchemy mistakes: un-awaited session calls, sessions shared "
        "between tasks, commits in loops, SQL built from strings, and more.",
        epilog="Silence one line with `# sqlops: ignore[SQA001]`. Settings: [tool.sqlops.audit] "
        "in pyproject.toml. Exit: 0 clean, 1 findings, 2 usage error.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or directories to check")
    parser.add_argument(
        "--format", choices=sorted(RENDERERS), default="text", help="output format (text)"
    )
    parser.add_argument(
        "--select", type=_codes, metavar="CODE,...", help="run only these rules (codes/prefixes)"
    )
    parser.add_argument(
        "--ignore", type=_codes, metavar="CODE,...", help="skip these rules (added to config)"
    )
    parser.add_argument("--list-rules", action="store_true", help="list the rules and exit")
    parser.add_argument(
        "--exit-zero", action="store_true", help="exit 0 even when there are findings"
    )
    return parser


def _codes(text: str) -> list[str]:
    return [code.strip() for code in text.split(",") if code.strip()]


def _rule_table() -> str:
    return "\n".join(f"{rule.code}  {rule.name:<30} {rule.summary}" for rule in RULES)
