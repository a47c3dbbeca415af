"""The click application behind ``sqlops``: ``demo``, ``doctor``, ``migrate``, ``audit``, ``bench``.

The work lives in plain functions (:func:`sqlops.demo.run_demo`,
:func:`sqlops._doctor.diagnose`, :mod:`sqlops.migrations`, :func:`sqlops.audit.main`);
this module parses, calls and prints. Any error is one line, ``error: ...``, exit 1
(usage errors exit 2); ``--debug`` adds the traceback. Needs ``pip install 'sqlops[cli]'``;
:mod:`sqlops.cli` runs ``sqlops audit`` without it.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

import sqlops
from sqlops._errors import SqlopsError

F = TypeVar("F", bound=Callable[..., Any])
STATUS_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}
PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True}


class Failure(click.ClickException):
    """An error shown as one line, ``error: ...``, exit status 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


class _Group(click.Group):
    """The root group: turns any exception from a command into one ``error:`` line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                traceback.print_exc(file=sys.stderr)
            raise Failure(_one_line(exc, ctx.params.get("debug", False))) from exc


def _one_line(exc: Exception, debug: bool) -> str:
    """The error's first line; for an unexpected one, its type and a pointer to --debug."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    if isinstance(exc, SqlopsError) and text:
        return text
    hint = "" if debug else " (run `sqlops --debug ...` for the traceback)"
    return f"{type(exc).__name__}: {text}{hint}" if text else f"{type(exc).__name__}{hint}"


def _console() -> Console:
    """A console on the current stdout (looked up late, so test runners can capture it)."""
    return Console(highlight=False, soft_wrap=True)


@click.group("sqlops", cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
@click.version_option(sqlops.__version__, prog_name="sqlops")
def app(debug: bool) -> None:
    """sqlops: the async data layer on SQLAlchemy 2.

    Start with `sqlops demo`; check a database with `sqlops doctor URL`.
    """
    if not debug:  # MariaDB notes ("Name 'pk_x' ignored for PRIMARY key") are noise here
        logging.getLogger("asyncmy").setLevel(logging.ERROR)


# ---------------------------------------------------------------------- demo


@app.command()
@click.option("--url", help="Database URL (default: $DATABASE_URL, else ./sqlops.db).")
@click.option("--rows", type=click.IntRange(min=1), default=100_000, hidden=True)
def demo(url: str | None, rows: int) -> None:
    """A guided tour of sqlops: CRUD, transactions, errors, pages, bulk, guards, audit.

    Creates demo_* tables and drops them at the end.
    """
    from sqlops.demo import run_demo

    asyncio.run(run_demo(url, rows=rows, console=_console()))


# ---------------------------------------------------------------------- doctor


@app.command()
@click.argument("url", required=False)
@click.option(
    "--object",
    "obj",
    metavar="MODULE:ATTR",
    help="Inspect your app's Database, async_sessionmaker or AsyncEngine instead of a URL.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0)
@click.pass_context
def doctor(
    ctx: click.Context, url: str | None, obj: str | None, as_json: bool, timeout: float
) -> None:
    """Check a database: reachability, version, latency, pool and session traps.

    URL defaults to $DATABASE_URL, else ./sqlops.db. Exits 1 when a check fails.
    """
    from sqlops._doctor import DoctorUsageError, diagnose

    if url is not None and obj is not None:
        raise click.UsageError("give a URL or --object, not both (the object knows its URL)")
    try:
        report = asyncio.run(diagnose(url, obj=obj, timeout=timeout))
    except DoctorUsageError as exc:
        raise click.UsageError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(report)
    ctx.exit(0 if report.ok else 1)


def _print_report(report: Any) -> None:
    table = Table(title=escape(report.target), expand=True)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail", ratio=4, overflow="fold")  # fold long names, never cut them
    table.add_column("fix", ratio=3, overflow="fold")
    for check in report.checks:
        style = STATUS_STYLE[check.status]
        table.add_row(
            check.name, f"[{style}]{check.status}[/]", escape(check.detail), escape(check.fix)
        )
    console = _console()
    console.print(table)
    failed = sum(check.status == "fail" for check in report.checks)
    warned = sum(check.status == "warn" for check in report.checks)
    verdict = "[bold red]problems found[/]" if failed else "[green]healthy[/]"
    console.print(f"{verdict}: {failed} failed, {warned} warning(s)")


# ---------------------------------------------------------------------- migrate


def _migrate_options(fn: F) -> F:
    options = (
        click.option("--url", help="Database URL (overrides [tool.sqlops] url)."),
        click.option(
            "--config",
            type=click.Path(exists=True, path_type=Path),
            help="pyproject.toml (or alembic.ini) to use; default: the nearest pyproject.toml.",
        ),
    )
    for option in reversed(options):
        fn = option(fn)
    return fn


@app.group()
def migrate() -> None:
    """Alembic migrations, configured by [tool.sqlops] in pyproject.toml.

    \b
    [tool.sqlops]
    url = "DATABASE_URL"                   # env var holding the URL (or a URL)
    metadata = "app.models:Base.metadata"  # your models
    migrations = "migrations"              # the directory
    """


@migrate.command("init")
@click.option("--config", type=click.Path(exists=True, path_type=Path), help="pyproject.toml")
def migrate_init(config: Path | None) -> None:
    """Create the migrations directory with an async env.py."""
    from sqlops import migrations

    directory = migrations.init(config)
    console = _console()
    console.print(f"created {escape(str(directory))} (env.py, script.py.mako, versions/)")
    if migrations.load_settings(config).metadata is None:
        console.print(
            escape(
                "next: tell sqlops where your models are, in pyproject.toml:\n\n"
                '  [tool.sqlops]\n  metadata = "app.models:Base.metadata"\n'
            )
        )
    console.print('then: sqlops migrate revision --autogenerate -m "initial"')


@migrate.command("revision")
@click.option("-m", "--message", required=True, help="What the revision does.")
@click.option("--autogenerate", is_flag=True, help="Compare the models with the database.")
@_migrate_options
def migrate_revision(
    message: str, autogenerate: bool, url: str | None, config: Path | None
) -> None:
    """Write a new revision file."""
    from sqlops import migrations

    path = migrations.revision(message, autogenerate=autogenerate, config=config, url=url)
    _console().print(f"wrote {escape(str(path))}; review it, then: sqlops migrate upgrade")


@migrate.command("upgrade")
@click.argument("revision", default="head")
@_migrate_options
def migrate_upgrade(revision: str, url: str | None, config: Path | None) -> None:
    """Apply revisions up to REVISION (default: head)."""
    from sqlops import migrations

    _with_progress("upgrade", migrations.upgrade, revision, url=url, config=config)


@migrate.command("downgrade", context_settings={"ignore_unknown_options": True})
@click.argument("revision")
@_migrate_options
def migrate_downgrade(revision: str, url: str | None, config: Path | None) -> None:
    """Revert revisions down to REVISION (-1 for the last one, base for all)."""
    from sqlops import migrations

    _with_progress("downgrade", migrations.downgrade, revision, url=url, config=config)


def _with_progress(verb: str, run: Callable[..., None], revision: str, **options: Any) -> None:
    """Run an upgrade or downgrade with a bar that advances per revision."""
    console = _console()
    columns = (TextColumn(verb), BarColumn(), MofNCompleteColumn())
    planned: list[int] = []
    with Progress(
        *columns, console=console, transient=True, disable=not console.is_terminal
    ) as bar:
        task = bar.add_task(verb, total=None)

        def on_plan(count: int) -> None:
            planned.append(count)
            bar.update(task, total=count)

        def on_step(text: str) -> None:
            bar.console.print(f"  {escape(text)}")
            bar.advance(task)

        run(revision, on_plan=on_plan, on_step=on_step, **options)
    done = planned[0] if planned else 0
    if done:
        target = "" if revision[:1] in "+-" else f" to {escape(revision)}"
        console.print(f"{verb}d {done} revision(s){target}")
    else:
        console.print(f"nothing to {verb}: the database is at {escape(revision)} already")


@migrate.command("current")
@_migrate_options
def migrate_current(url: str | None, config: Path | None) -> None:
    """Show the revision the database is at."""
    from sqlops import migrations

    revisions = migrations.current(config=config, url=url)
    console = _console()
    if not revisions:
        console.print("no revision applied yet (run: sqlops migrate upgrade)")
    for rev in revisions:
        head = " (head)" if rev.is_head else " (not head: run sqlops migrate upgrade)"
        console.print(f"{rev.id}{head} {escape(rev.message or '')}".rstrip())


@migrate.command("check")
@_migrate_options
@click.pass_context
def migrate_check(ctx: click.Context, url: str | None, config: Path | None) -> None:
    """Exit 1 if the models and the database differ (one line listing the differences)."""
    from sqlops import migrations

    differences = migrations.check(config=config, url=url)
    if differences:
        count = len(differences)
        click.echo(f"models and database differ ({count}): " + "; ".join(differences))
        ctx.exit(1)
    click.echo("models and database agree")


# ---------------------------------------------------------------------- audit, bench


@app.command(context_settings=PASS_THROUGH, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def audit(ctx: click.Context, args: Sequence[str]) -> None:
    """Find async SQLAlchemy mistakes in PATH... (see `sqlops audit --help`)."""
    try:
        from sqlops.audit import main as audit_main
    except ImportError as exc:
        raise Failure(f"sqlops.audit is not available: {exc}") from exc
    ctx.exit(audit_main(list(args)))


@app.command(context_settings=PASS_THROUGH, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def bench(ctx: click.Context, args: Sequence[str]) -> None:
    """Run the peer benchmark (from a sqlops source checkout; see `sqlops bench --help`)."""
    bench_main = _bench_main()
    if bench_main is None:
        raise Failure(
            "the benchmark ships with the source, not the package: run `sqlops bench` "
            "from a checkout of the sqlops repository"
        )
    ctx.exit(bench_main(list(args), prog="sqlops bench"))


def _bench_main() -> Callable[..., int] | None:
    """``benchmarks.cli.main`` from a sqlops checkout (this package's or the cwd's)."""
    here = Path(sqlops.__file__).resolve().parents[2]  # <checkout>/src/sqlops/__init__.py
    for root in (here, Path.cwd(), *Path.cwd().parents):
        if (root / "benchmarks" / "cli.py").is_file() and _is_sqlops_checkout(root):
            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            module = importlib.import_module("benchmarks.cli")
            return module.main  # type: ignore[no-any-return]
    return None


def _is_sqlops_checkout(root: Path) -> bool:
    """True when ``root/pyproject.toml`` is sqlops's own (not some other benchmarks/)."""
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return False
    return 'name = "sqlops"' in text
