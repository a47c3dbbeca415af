"""``--sqlops-url`` as users write it: a missing database name, a server that is down."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import URL

pytest_plugins = ["pytester"]

TESTS = """
async def test_with_sqlops(sqlops_db):
    await sqlops_db.ping()
"""
INI = "[pytest]\nfilterwarnings = error\nasyncio_mode = auto\n"
INI += "asyncio_default_fixture_loop_scope = function\n"


@pytest.mark.mysql
def test_a_mysql_url_naming_a_missing_database_works(
    servers: Any, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SQLOPS_TEST_URL", raising=False)
    server: URL = servers.url("mysql").set(database="sqlops_no_such_database")
    pytester.makeini(INI)
    pytester.makepyfile(test_one=TESTS)
    url = server.render_as_string(hide_password=False)
    result = pytester.runpytest_subprocess(f"--sqlops-url={url}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


@pytest.mark.postgresql
def test_a_server_that_is_down_is_one_line_without_links(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SQLOPS_TEST_URL", raising=False)
    pytester.makeini(INI)
    pytester.makepyfile(test_one=TESTS)
    result = pytester.runpytest_subprocess(
        "--sqlops-url=postgresql://nobody_xyz@127.0.0.1:5432/x", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(errors=1)
    lines = result.outlines
    (at,) = [
        i for i, line in enumerate(lines) if line.startswith("E   ") and "cannot create" in line
    ]
    assert lines[at].endswith('Error: role "nobody_xyz" does not exist')
    assert "Background on this error" not in lines[at + 1]  # the message is that one line
