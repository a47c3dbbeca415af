"""tests/integration/test_fastwrite.py, run on the sync API (see conftest.py)."""

from tests.integration.test_fastwrite import *  # noqa: F403
