"""tests/integration/test_wrong_types.py, run on the sync API (see conftest.py)."""

from tests.integration.test_wrong_types import *  # noqa: F403
