"""Test helpers for sqlops users; the pytest plugin builds its fixtures from them.

::

    from sqlops.testing import assert_max_queries, count_queries, rolled_back

    async with rolled_back(db) as test_db:      # every commit inside is rolled back
        with assert_max_queries(2):
            await Repository(User, test_db).list(load=["posts"])

With pytest the plugin (auto-loaded) gives these as fixtures: ``sqlops_db``,
``rollback_db``, ``db_session``, ``count_queries``, ``assert_max_queries``
(see docs/testing.md).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlops.testing._queries import QueryCounter, assert_max_queries, count_queries
    from sqlops.testing._rollback import BoundDatabase, rolled_back
    from sqlops.testing._throwaway import create_database, drop_database

# The pytest plugin imports this package in every test run of every project that has
# sqlops installed; SQLAlchemy is imported only when a helper is actually used.
_MODULES = {
    "QueryCounter": "._queries",
    "assert_max_queries": "._queries",
    "count_queries": "._queries",
    "BoundDatabase": "._rollback",
    "rolled_back": "._rollback",
    "create_database": "._throwaway",
    "drop_database": "._throwaway",
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        import importlib

        value = getattr(importlib.import_module(_MODULES[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sqlops.testing' has no attribute {name!r}")


__all__ = [
    "BoundDatabase",
    "QueryCounter",
    "assert_max_queries",
    "count_queries",
    "create_database",
    "drop_database",
    "rolled_back",
]
