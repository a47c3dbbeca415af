"""`sqlops doctor` behind a real PgBouncer (Debian's, started here) in both pool modes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest
from sqlalchemy.engine import URL

from sqlops._doctor_pgbouncer import pgbouncer_signals, read_settings
from tests.ops._pgbouncer import PgBouncer, find_binary

from .conftest import run

pytestmark = pytest.mark.postgresql


def _skip_or_fail() -> NoReturn:
    message = "pgbouncer is not installed"
    if os.environ.get("SQLOPS_REQUIRE_PGBOUNCER", "") == "1":
        pytest.fail(f"{message}, but SQLOPS_REQUIRE_PGBOUNCER=1")
    pytest.skip(message)


@pytest.fixture(scope="module")
def server(servers: Any) -> URL:
    return servers.url("postgresql")


@pytest.fixture(scope="module", params=["transaction", "session"])
def bouncer(request: pytest.FixtureRequest, server: URL) -> Iterator[PgBouncer]:
    binary = find_binary()
    if binary is None:
        _skip_or_fail()
    started = PgBouncer.start(binary, request.param, server, pool_size=2)
    yield started
    started.stop()


def doctor(url: URL | str) -> dict[str, dict[str, str]]:
    rendered = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    result = run("doctor", "--json", rendered)
    report = json.loads(result.stdout)
    return {check["name"]: check for check in report["checks"]}


def test_doctor_detects_pgbouncer_and_reads_its_settings(bouncer: PgBouncer, server: URL) -> None:
    checks = doctor(bouncer.url(server))
    found, settings = checks["pgbouncer"], checks["pgbouncer settings"]
    assert "PgBouncer 1." in found["detail"]
    assert "a proxy answered the connection" in found["detail"]
    assert settings["status"] == "ok"
    assert f"pool_mode={bouncer.mode}" in settings["detail"]
    assert "server_reset_query=DISCARD ALL" in settings["detail"]
    assert "default_pool_size=2" in settings["detail"]
    # 1.18 has no such setting; a newer binary ($SQLOPS_PGBOUNCER) is started with 0
    carried = ("prepared statements are not carried", "max_prepared_statements=0")
    assert any(text in settings["detail"] for text in carried)


def test_transaction_mode_without_pooler_option_fails_and_says_what_to_set(
    bouncer: PgBouncer, server: URL
) -> None:
    found = doctor(bouncer.url(server))["pgbouncer"]
    if bouncer.mode == "session":
        assert found["status"] == "ok" and "safe (session pooling)" in found["detail"]
        return
    assert found["status"] == "fail"
    assert "pool_mode=transaction" in found["detail"]
    assert "statement_cache_size=100" in found["detail"]
    assert "pooler='pgbouncer'" in found["fix"]


def test_with_pooler_option_transaction_mode_is_ok(bouncer: PgBouncer, server: URL) -> None:
    url = bouncer.url(server).update_query_dict({"pooler": "pgbouncer"})
    found = doctor(url)["pgbouncer"]
    assert found["status"] == "ok"
    assert "prepared-statement caches are off" in found["detail"]


def test_directly_on_postgresql_no_pooler_is_reported(server: URL) -> None:
    checks = doctor(server)
    assert checks["pgbouncer"]["status"] == "ok"
    assert "no pooler detected" in checks["pgbouncer"]["detail"]
    assert "pgbouncer settings" not in checks


def test_settings_unreadable_say_why(server: URL) -> None:
    """PostgreSQL itself has no admin console: the reason is given, nothing raised."""
    settings = read_settings(server)
    assert settings["error"].startswith("the admin console refused:")
    assert 'database "pgbouncer" does not exist' in settings["error"]


def test_a_cancel_key_that_is_not_the_backend_is_a_proxy() -> None:
    assert pgbouncer_signals(5432, [10, 10], key_pid=10) == []
    [signal] = pgbouncer_signals(5432, [10, 10], key_pid=-1234)
    assert "cancel key names process -1234" in signal
