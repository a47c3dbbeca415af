"""Every ```python and ``$ sqlops`` block of README.md and docs/*.md runs as written.

One test per page and backend: the page's blocks run top to bottom in a fresh temporary
directory with ``DATABASE_URL`` unset (``sqlops.Database()`` is a new ``./sqlops.db``),
or, for a page marked ``<!-- docs: backends=... -->``, set to a throwaway database on
each server listed. The convention is in CONTRIBUTING.md ("Docs are tests").
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sqlops.testing._throwaway import create_database, drop_database

from ._markdown import MarkerError, parse
from ._runner import run_page_in_child

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _pages() -> Iterator[Any]:
    for path in PAGES:
        name = path.relative_to(ROOT).as_posix()
        try:
            page = parse(path)
        except MarkerError:  # the test reports it
            yield pytest.param(path, "sqlite", id=f"{name}-sqlite", marks=pytest.mark.sqlite)
            continue
        if not page.runnable:
            continue
        for backend in page.backends:
            mark = getattr(pytest.mark, backend)
            yield pytest.param(path, backend, id=f"{name}-{backend}", marks=mark)


@pytest.mark.parametrize(("path", "backend"), list(_pages()))
def test_page_runs_as_written(path: Path, backend: str, servers: Any, tmp_path: Path) -> None:
    parse(path)  # an unknown marker fails here, naming its line
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SQLOPS_TEST_URL")}
    if backend == "sqlite":
        run_page_in_child(path, tmp_path, env)
        return
    url = asyncio.run(create_database(servers.url(backend)))
    env["DATABASE_URL"] = url.render_as_string(hide_password=False)
    try:
        run_page_in_child(path, tmp_path, env)
    finally:
        asyncio.run(drop_database(url))
