"""Every ```python and ``$ sqlops`` block of README.md and docs/*.md runs as written.

One test per page and backend: the page's blocks run top to bottom in a fresh temporary
directory with ``DATABASE_URL`` unset (``sqlops.Database()`` is a new ``./sqlops.db``),
or, for a page marked ``<!-- docs: backends=... -->``, set to a throwaway database on
each server listed. The convention is in CONTRIBUTING.md.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sqlops.testing._throwaway import create_database, drop_database

from ._markdown import MarkerError, parse
from ._runner import run_page

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
def test_page_runs_as_written(
    path: Path, backend: str, servers: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = parse(path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SQLOPS_TEST_URL", raising=False)
    if backend == "sqlite":
        run_page(page, tmp_path)
        return
    url = asyncio.run(create_database(servers.url(backend)))
    monkeypatch.setenv("DATABASE_URL", url.render_as_string(hide_password=False))
    try:
        run_page(page, tmp_path)
    finally:
        asyncio.run(drop_database(url))
