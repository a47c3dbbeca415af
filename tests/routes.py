"""Run a suite over both routes, the fast one (default) and the ORM session.

A conftest lists its suites and imports :func:`parametrize_routes` and :func:`sqlops_route`:
every test of a listed module runs twice, so the routes cannot diverge unnoticed. Reads
and ``update()`` take the fast route unless ``_executor.forced_route`` is ``"orm"``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sqlops import _executor


def parametrize_routes(metafunc: pytest.Metafunc, suites: set[str]) -> None:
    name = metafunc.module.__name__.rsplit(".", 1)[-1]
    if name in suites and "sqlops_route" in metafunc.fixturenames:
        metafunc.parametrize("sqlops_route", ["fast", "orm"], indirect=True)


@pytest.fixture(autouse=True)
def sqlops_route(request: pytest.FixtureRequest) -> Iterator[str]:
    """The route this test runs over: ``"fast"`` (sqlops' choice) or ``"orm"``."""
    route = getattr(request, "param", "fast")
    _executor.forced_route = "orm" if route == "orm" else None
    try:
        yield route
    finally:
        _executor.forced_route = None
