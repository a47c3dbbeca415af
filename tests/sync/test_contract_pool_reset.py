"""tests/integration/test_pool_reset.py, run on the sync API (see conftest.py)."""

from tests.integration.test_pool_reset import *  # noqa: F403
