"""tests/integration/test_schemas.py, run on the sync API (see conftest.py)."""

from tests.integration.test_schemas import *  # noqa: F403
