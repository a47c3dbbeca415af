"""tests/integration/test_uuid7.py, run on the sync API (see conftest.py)."""

from tests.integration.test_uuid7 import *  # noqa: F403
