"""Run the read suites over both routes: the fast one (default) and the ORM session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sqlops import _executor

# Suites whose every test runs twice, once per route, so that the routes cannot diverge.
READ_SUITES = {
    "test_fastread",
    "test_filters",
    "test_injected_reads",
    "test_pagination",
    "test_q",
    "test_repository",
    "test_schemas",
    "test_search",
    "test_sqlmodel",
    "test_stream",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    name = metafunc.module.__name__.rsplit(".", 1)[-1]
    if name in READ_SUITES and "sqlops_route" in metafunc.fixturenames:
        metafunc.parametrize("sqlops_route", ["fast", "orm"], indirect=True)


@pytest.fixture(autouse=True)
def sqlops_route(request: pytest.FixtureRequest) -> Iterator[str]:
    """The read route this test runs over: ``"fast"`` (sqlops' choice) or ``"orm"``."""
    route = getattr(request, "param", "fast")
    _executor.forced_route = "orm" if route == "orm" else None
    try:
        yield route
    finally:
        _executor.forced_route = None
