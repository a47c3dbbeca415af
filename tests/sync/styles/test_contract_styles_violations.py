"""tests/styles/test_violations.py, run on the sync API (see conftest.py)."""

from tests.styles.test_violations import *  # noqa: F403
