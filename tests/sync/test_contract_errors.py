"""tests/integration/test_errors.py, run on the sync API (see conftest.py)."""

from tests.integration.test_errors import *  # noqa: F403
