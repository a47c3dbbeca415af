"""tests/integration/test_q.py, run on the sync API (see conftest.py)."""

from tests.integration.test_q import *  # noqa: F403
