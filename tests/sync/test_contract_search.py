"""tests/integration/test_search.py, run on the sync API (see conftest.py)."""

from tests.integration.test_search import *  # noqa: F403
