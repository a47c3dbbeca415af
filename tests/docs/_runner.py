"""Run a page's blocks: python in one namespace and one event loop, console commands as commands."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import os
import shlex
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import sqlops

from ._markdown import Block, Command, Page, output_matches

SRC = Path(sqlops.__file__).resolve().parents[1]
ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 120
PAGE_TIMEOUT = 300


class DocPageError(AssertionError):
    """A page's blocks did not run through (the child's traceback names the page line)."""


def run_page_in_child(path: Path, workdir: Path, env: dict[str, str]) -> None:
    """Run the page in a fresh interpreter (warnings are errors): nothing leaks between pages.

    Pages define models on ``sqlops.models.Base`` and import modules they wrote; a new
    process per page is what a reader pasting the page into a file gets.
    """
    env = {**env, "PYTHONPATH": _pythonpath(env, str(ROOT))}
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "tests.docs._runner", str(path)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=PAGE_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise DocPageError(f"{path.name} failed:\n{done.stderr[-6000:]}\n{done.stdout[-2000:]}")


def _pythonpath(env: dict[str, str], *first: str) -> str:
    return os.pathsep.join(filter(None, [*first, str(SRC), env.get("PYTHONPATH")]))


class DocCommandError(AssertionError):
    """A ``$ sqlops`` command of a page failed or printed something other than shown."""


def run_page(page: Page, workdir: Path) -> None:
    """Run every block of ``page`` that is not skipped, in page order, inside ``workdir``."""
    name = f"docs_{page.path.stem.replace('-', '_').lower()}"
    module = types.ModuleType(name)
    module.__file__ = str(workdir / f"{name}.py")
    sys.modules[name] = module
    loop = asyncio.new_event_loop()
    try:
        for block in page.blocks:
            if block.skip:
                continue
            if block.filename is not None:
                target = workdir / block.filename
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.text, encoding="utf-8")
            elif block.language == "python":
                run_python(block, page.path, module.__dict__, loop)
            else:
                for command in block.commands():
                    run_command(command, page.path, workdir)
    finally:
        _close(module.__dict__, loop)
        sys.modules.pop(name, None)
        _forget_modules_under(workdir)


def run_python(block: Block, path: Path, namespace: dict[str, Any], loop: Any) -> None:
    """Execute one block; a top-level ``await`` runs on the page's event loop."""
    source = "\n" * (block.line - 1) + block.text  # tracebacks point at the page's lines
    code = compile(
        source, str(path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )
    result = eval(code, namespace)
    if inspect.iscoroutine(result):
        loop.run_until_complete(result)


def run_command(command: Command, path: Path, workdir: Path) -> None:
    """Run ``$ sqlops ...`` in ``workdir``; check its output when the page shows some."""
    args = shlex.split(command.argv, comments=True)
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    env["PYTHONPATH"] = _pythonpath(env)
    done = subprocess.run(
        [sys.executable, "-m", "sqlops.cli", *args[1:]],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    where = f"{path.name}:{command.line}: $ {command.argv}"
    if command.expected and not output_matches(command.expected, done.stdout.splitlines()):
        shown = "\n".join(command.expected)
        raise DocCommandError(f"{where}\n--- shown:\n{shown}\n--- printed:\n{done.stdout}")
    if not command.expected and done.returncode != 0:
        raise DocCommandError(f"{where}\nexit status {done.returncode}:\n{done.stdout}")


def _close(namespace: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
    """Dispose what the page left open (pages need not end with ``await db.dispose()``)."""
    try:
        for value in list(namespace.values()):
            if isinstance(value, sqlops.Database):
                with contextlib.suppress(Exception):  # one made in another loop, say
                    loop.run_until_complete(value.dispose())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
        namespace.clear()


def _forget_modules_under(workdir: Path) -> None:
    """Unload modules a page wrote and imported, so the next page starts clean."""
    root = str(workdir)
    for name, module in list(sys.modules.items()):
        if (getattr(module, "__file__", None) or "").startswith(root):
            del sys.modules[name]


if __name__ == "__main__":
    from ._markdown import parse

    sys.path.insert(0, str(Path.cwd()))  # the page's own files are importable, as in a REPL
    run_page(parse(Path(sys.argv[1])), Path.cwd())
