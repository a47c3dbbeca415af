"""tests/integration/test_pagination.py, run on the sync API (see conftest.py)."""

from tests.integration.test_pagination import *  # noqa: F403
