"""tests/integration/test_update_many.py, run on the sync API (see conftest.py)."""

from tests.integration.test_update_many import *  # noqa: F403
