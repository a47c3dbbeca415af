"""tests/integration/test_bulk.py, run on the sync API (see conftest.py)."""

from tests.integration.test_bulk import *  # noqa: F403
