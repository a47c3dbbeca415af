"""tests/integration/test_increment_inheritance.py, run on the sync API (see conftest.py)."""

from tests.integration.test_increment_inheritance import *  # noqa: F403
