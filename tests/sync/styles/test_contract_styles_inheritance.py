"""tests/styles/test_inheritance.py, run on the sync API (see conftest.py)."""

from tests.styles.test_inheritance import *  # noqa: F403
