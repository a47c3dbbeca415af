"""tests/integration/test_mariadb_upsert.py, run on the sync API (see conftest.py)."""

from tests.integration.test_mariadb_upsert import *  # noqa: F403
