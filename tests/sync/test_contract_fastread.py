"""tests/integration/test_fastread.py, run on the sync API (see conftest.py)."""

from tests.integration.test_fastread import *  # noqa: F403
