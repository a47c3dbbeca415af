"""tests/styles/test_injected.py, run on the sync API (see conftest.py)."""

from tests.styles.test_injected import *  # noqa: F403
