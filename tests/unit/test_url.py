"""URL resolution needs no server."""

from __future__ import annotations

import importlib.util
import sys

import pytest

import sqlops
from sqlops._url import SyncDriverError, require_driver, resolve_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h/d", "postgresql+asyncpg"),
        ("postgres://u@h/d", "postgresql+asyncpg"),
        ("mysql://u@h/d", "mysql+asyncmy"),
        ("mariadb://u@h/d", "mariadb+asyncmy"),
        ("sqlite:///x.db", "sqlite+aiosqlite"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg"),
        ("mysql+aiomysql://u@h/d", "mysql+aiomysql"),
    ],
)
def test_plain_urls_get_the_async_driver(given: str, expected: str) -> None:
    assert resolve_url(given).drivername == expected


def test_sync_driver_is_refused_with_the_fix() -> None:
    with pytest.raises(SyncDriverError, match=r"postgresql\+asyncpg"):
        resolve_url("postgresql+psycopg2://u@h/d")


def test_default_url_comes_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db/app")
    assert str(resolve_url(None)) == "postgresql+asyncpg://app@db/app"
    monkeypatch.delenv("DATABASE_URL")
    assert str(resolve_url(None)) == "sqlite+aiosqlite:///./sqlops.db"


async def test_repr_never_shows_the_password() -> None:
    db = sqlops.Database("postgresql://app:hunter2@db.internal:5432/app")
    try:
        assert "hunter2" not in repr(db)
        assert "***" in repr(db)
        assert db.dialect == "postgresql"
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("url", "dialect"),
    [("mysql://u@h/d", "mysql"), ("mariadb://u@h/d", "mysql"), ("sqlite://", "sqlite")],
)
async def test_dialect_family(url: str, dialect: str) -> None:
    db = sqlops.Database(url)
    try:
        assert db.dialect == dialect
    finally:
        await db.dispose()


def test_lazy_loads_mode_is_validated() -> None:
    with pytest.raises(ValueError, match="lazy_loads"):
        sqlops.Database("sqlite://", lazy_loads="maybe")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw", ["garbage", "postgresql://h:notaport/x", "://nothing", "postgresql://u:pw@h:x/d"]
)
def test_text_that_is_not_a_url_is_one_line(raw: str) -> None:
    with pytest.raises(sqlops.InvalidURLError, match=r"^not a database URL: ") as info:
        resolve_url(raw)
    assert "\n" not in str(info.value) and "pw" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_a_driver_that_is_not_installed_names_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "asyncpg", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    for raw in ("postgresql://u@h/d", "postgres://u@h/d"):
        with pytest.raises(sqlops.MissingDependencyError) as info:
            sqlops.Database(raw)
        assert str(info.value) == (
            "postgresql+asyncpg:// needs the asyncpg driver: pip install 'sqlops[postgresql]'"
        )
        assert info.value.extra == "postgresql" and isinstance(info.value, ImportError)


def test_a_driver_that_is_installed_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    require_driver(resolve_url("sqlite://"))
    require_driver(resolve_url("postgresql://u@h/d"))
