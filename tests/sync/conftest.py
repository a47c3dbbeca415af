"""The sync twin's tests: the async contract suites re-run on ``sqlops.sync``.

``test_contract_*.py`` import the test functions of ``tests/integration`` modules; here
``db`` is a :class:`TwinDatabase` over a ``sync.Database`` and ``sqlops.Repository``
builds sync repositories, so the same assertions hold for both APIs. The model-style
matrix (``tests/styles``) is re-run the same way by ``styles/``, whose conftest builds
its ``schemas`` over the twin; ``ASYNC_ONLY`` below applies there too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import URL

import sqlops
from sqlops import _database as sqlops_async_engine
from sqlops import sync
from tests.integration.conftest import ROUTED_SUITES as _ROUTED
from tests.models import Base
from tests.routes import parametrize_routes, sqlops_route

from ._twin import TwinDatabase, sync_url, twin_database, twin_repository

__all__ = ["sqlops_route"]
# The routed suites run over both routes here too (fast and the ORM session's).
ROUTED_SUITES = {name.replace("test_", "test_contract_", 1) for name in _ROUTED}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_routes(metafunc, ROUTED_SUITES)


@pytest.fixture
def sync_db(url: URL | str) -> Iterator[sync.Database]:
    """A sync Database with the test schema created, dropped afterwards."""
    database = sync.Database(sync_url(url))
    database.drop_all(Base.metadata)
    database.create_all(Base.metadata)
    try:
        yield database
    finally:
        database.drop_all(Base.metadata)
        database.dispose()


@pytest.fixture(autouse=True)
def _twin_api(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In a contract test, ``sqlops.Database`` / ``sqlops.Repository`` are the sync twin's.

    Autouse, so it is in place before any fixture runs — a suite's own ``db`` fixture
    (star-imported with its tests, it outranks this conftest's) builds a twin too, instead
    of quietly testing the async API a second time. Then no async engine may have been
    made: the test would not be testing the sync API.
    """
    if "test_contract_" not in request.node.nodeid:
        yield
        return
    monkeypatch.setattr(sqlops, "Repository", twin_repository)
    monkeypatch.setattr(sqlops, "Database", twin_database)
    made: list[object] = []
    real = sqlops_async_engine.make_engine

    def watched(*args: object, **kwargs: object) -> object:
        made.append(args[0] if args else kwargs.get("url"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlops_async_engine, "make_engine", watched)
    yield
    assert not made, f"a contract test built an async engine ({made}): it ran the async API"


@pytest.fixture
async def db(sync_db: sync.Database) -> TwinDatabase:
    """The contract tests' ``db``: the sync API behind an awaitable face."""
    return TwinDatabase(sync_db)


# Async-only behaviour, or tests whose concurrency is asyncio's (tasks that interleave on
# one loop); their sync counterparts are in test_threads.py.
ASYNC_ONLY = {
    "test_for_update_locks_rows_in_an_injected_session": "asyncio.gather of lock holders",
    "test_run_retries_a_real_conflict": "asyncio.gather of transfers (see test_threads.py)",
    "test_cancelled_transaction_leaves_nothing_behind": "task cancellation",
    "test_a_read_cancelled_at_any_await_point_closes_what_it_discards": "task cancellation",
    "test_guards_leave_other_sessions_alone": "MissingGreenlet exists only under asyncio",
    "test_two_tasks_bulk_inserting_through_one_session_are_refused": "asyncio.gather on one "
    "session (threads: test_threads.py)",
    "test_the_applications_own_session_bulk_inserting_from_two_tasks_serves_both": "asyncio"
    ".gather on one session",
    "test_a_copy_cancelled_midway_discards_its_connection": "task cancellation",
    "test_two_tasks_updating_through_one_session_are_refused": "asyncio.gather on one "
    "session (threads: test_threads.py)",
    "test_the_applications_own_session_updating_from_two_tasks_serves_both": "asyncio"
    ".gather on one session",
    "test_two_tasks_reading_through_one_session_are_refused": "asyncio.gather on one "
    "session (threads: test_threads.py)",
    "test_the_applications_own_session_shared_by_two_tasks_serves_both": "asyncio.gather "
    "on one session",
    "test_a_clean_session_takes_the_fast_route": "the async Repository's route planner "
    "(the sync routes: test_fast_paths.py)",
    "test_a_reading_session_holds_no_transaction_open": "asyncpg's server pid and deferred BEGIN",
    "test_overlapping_transactions_one_blocks_then_loses": "asyncio.gather of a lock holder and "
    "a waiter (threads: test_threads.py)",
    "test_a_stream_abandoned_without_aclose_disturbs_nothing": "the event loop's async-generator "
    "finalizer (a dropped sync generator closes at once: test_leaks.py)",
    "test_lazy_loads_allow_is_sqlalchemy_behaviour": "MissingGreenlet exists only under asyncio",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        name = getattr(item, "originalname", item.name)
        if "test_contract_" in item.nodeid and name in ASYNC_ONLY:
            item.add_marker(pytest.mark.skip(reason=f"async only: {ASYNC_ONLY[name]}"))
