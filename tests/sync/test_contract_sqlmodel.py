"""tests/integration/test_sqlmodel.py, run on the sync API (see conftest.py)."""

from tests.integration.test_sqlmodel import *  # noqa: F403
