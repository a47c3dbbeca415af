"""The ``sqlops`` command, runnable on a bare ``pip install sqlops``.

``sqlops audit ...`` needs nothing beyond sqlops itself, so it is routed to
:func:`sqlops.audit.main` before click or rich are imported. Every other command is the
click application in :mod:`sqlops._cli_app` (``pip install 'sqlops[cli]'``); without
that extra it says so in one line and exits 1.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

EXTRA_HINT = "pip install 'sqlops[cli]'"
CLI_MODULES = ("click", "rich")
ROOT_FLAGS = ("--debug",)


class Command:
    """``sqlops``: call it to run the command line; it also speaks click's ``main()``.

    Being callable keeps ``[project.scripts] sqlops = "sqlops.cli:main"``; ``main(args=...)``
    lets ``click.testing.CliRunner().invoke(sqlops.cli.main, [...])`` drive the click app.
    """

    name = "sqlops"

    def __call__(self, argv: Sequence[str] | None = None) -> NoReturn:
        args = list(sys.argv[1:] if argv is None else argv)
        sys.exit(run(args))

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """click's ``BaseCommand.main``, for test runners: needs the ``cli`` extra."""
        return _app().main(*args, **kwargs)


def run(args: list[str]) -> int:
    """Run ``sqlops *args`` and return the exit status."""
    command = subcommand(args)
    if command == "audit":
        from sqlops.audit import main as audit_main

        return audit_main(args[args.index("audit") + 1 :])
    try:
        app = _app()
    except ModuleNotFoundError as exc:
        if exc.name not in CLI_MODULES:
            raise
        shown = f"sqlops {command}" if command else "sqlops"
        print(
            f"error: `{shown}` needs the CLI extra: {EXTRA_HINT} (`sqlops audit` works without it)",
            file=sys.stderr,
        )
        return 1
    try:
        app.main(args=args, prog_name="sqlops", standalone_mode=True)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return 0


def subcommand(args: Sequence[str]) -> str | None:
    """The command word of ``args`` (after root flags such as ``--debug``), if any."""
    for arg in args:
        if arg in ROOT_FLAGS:
            continue
        return None if arg.startswith("-") else arg
    return None


def _app() -> Any:
    from sqlops._cli_app import app

    return app


main = Command()

if __name__ == "__main__":
    main()
