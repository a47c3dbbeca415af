"""tests/integration/test_injected_reads.py, run on the sync API (see conftest.py)."""

from tests.integration.test_injected_reads import *  # noqa: F403
