"""tests/styles/test_methods.py, run on the sync API (see conftest.py)."""

from tests.styles.test_methods import *  # noqa: F403
