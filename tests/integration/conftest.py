"""Run the read and write suites over both routes: the fast one and the ORM session."""

from __future__ import annotations

import pytest

from tests.routes import parametrize_routes, sqlops_route

__all__ = ["sqlops_route"]

# Suites whose every test runs twice, once per route, so that the routes cannot diverge.
ROUTED_SUITES = {
    "test_errors",
    "test_fastread",
    "test_fastwrite",
    "test_filters",
    "test_injected_reads",
    "test_pagination",
    "test_q",
    "test_repository",
    "test_schemas",
    "test_search",
    "test_sqlmodel",
    "test_versioned",
    "test_stream",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_routes(metafunc, ROUTED_SUITES)
