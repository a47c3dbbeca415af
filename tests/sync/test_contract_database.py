"""tests/integration/test_database.py, run on the sync API (see conftest.py)."""

from tests.integration.test_database import *  # noqa: F403
