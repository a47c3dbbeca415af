"""tests/integration/test_mariadb_reads.py, run on the sync API (see conftest.py)."""

from tests.integration.test_mariadb_reads import *  # noqa: F403
