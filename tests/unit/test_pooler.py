"""pooler="pgbouncer": which statement names sqlops chooses for each driver, and when."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.engine import make_url

import sqlops
from sqlops import _pooler

ASYNCPG = make_url("postgresql+asyncpg://u@127.0.0.1:6432/app")


def test_sqlalchemy_prepares_the_unnamed_statement_when_no_cache_keeps_it() -> None:
    args = _pooler.engine_options("pgbouncer", ASYNCPG, {})["connect_args"]
    assert args["statement_cache_size"] == 0 and args["prepared_statement_cache_size"] == 0
    assert args["prepared_statement_name_func"]() == ""


@pytest.mark.parametrize("cache", ["statement_cache_size", "prepared_statement_cache_size"])
def test_a_cache_the_caller_turns_back_on_keeps_the_drivers_names(cache: str) -> None:
    """A cached statement is run again later: the unnamed one would be another query by then."""
    options = {"connect_args": {cache: 100}}
    args = _pooler.engine_options("pgbouncer", ASYNCPG, options)["connect_args"]
    assert args[cache] == 100
    assert "prepared_statement_name_func" not in args


def test_the_callers_own_name_function_wins() -> None:
    def mine() -> str:
        return "mine"

    options = {"connect_args": {"prepared_statement_name_func": mine}, "echo": True}
    out = _pooler.engine_options("pgbouncer", ASYNCPG, options)
    assert out["connect_args"]["prepared_statement_name_func"] is mine and out["echo"] is True


def test_psycopg_never_prepares_and_no_pooler_changes_nothing() -> None:
    psycopg = make_url("postgresql+psycopg://u@127.0.0.1:6432/app")
    assert _pooler.engine_options("pgbouncer", psycopg, {}) == {
        "connect_args": {"prepare_threshold": None}
    }
    assert _pooler.engine_options(None, ASYNCPG, {"pool_size": 1}) == {"pool_size": 1}


@pytest.mark.parametrize(
    ("text", "expected"), [("0.29.0", (0, 29)), ("0.31.0.dev0", (0, 31)), ("1.0", (1, 0))]
)
def test_asyncpg_versions_are_read_as_major_minor(text: str, expected: tuple[int, int]) -> None:
    assert _pooler.asyncpg_version(text) == expected


def test_an_asyncpg_whose_copy_names_its_statement_is_refused_under_the_pooler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """asyncpg < 0.31 prepares COPY's column introspection as a named statement."""
    monkeypatch.setattr(asyncpg, "__version__", "0.30.0")
    with pytest.raises(sqlops.MissingDependencyError, match=r"asyncpg >= 0\.31 \(installed: 0\.30"):
        sqlops.Database(ASYNCPG, pooler="pgbouncer")
    sqlops.Database(ASYNCPG)  # without the pooler it is fine: named statements are allowed
    monkeypatch.setattr(asyncpg, "__version__", "0.31.0")
    assert sqlops.Database(ASYNCPG, pooler="pgbouncer").pooler == "pgbouncer"
