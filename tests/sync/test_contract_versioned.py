"""tests/integration/test_versioned.py, run on the sync API (see conftest.py)."""

from tests.integration.test_versioned import *  # noqa: F403
