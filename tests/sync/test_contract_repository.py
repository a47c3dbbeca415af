"""tests/integration/test_repository.py, run on the sync API (see conftest.py)."""

from tests.integration.test_repository import *  # noqa: F403
