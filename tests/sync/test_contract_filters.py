"""tests/integration/test_filters.py, run on the sync API (see conftest.py)."""

from tests.integration.test_filters import *  # noqa: F403
