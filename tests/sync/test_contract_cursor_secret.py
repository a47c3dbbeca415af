"""tests/integration/test_cursor_secret.py, run on the sync API (see conftest.py)."""

from tests.integration.test_cursor_secret import *  # noqa: F403
