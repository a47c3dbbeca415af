"""tests/integration/test_stream.py, run on the sync API (see conftest.py)."""

from tests.integration.test_stream import *  # noqa: F403
