"""Throwaway databases: made on any server URL, refused in one line when unreachable."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

import sqlops
from sqlops.testing import create_database, drop_database


@pytest.mark.mysql
def test_mysql_url_naming_a_missing_database_still_makes_one(servers: Any) -> None:
    base = servers.url("mysql").set(database="sqlops_not_there")  # does not exist
    asyncio.run(_check_fresh(base, "SELECT DATABASE()"))


@pytest.mark.postgresql
def test_postgresql_url_naming_a_missing_database_still_makes_one(servers: Any) -> None:
    base = servers.url("postgresql").set(database="sqlops_not_there")
    asyncio.run(_check_fresh(base, "SELECT current_database()"))


async def _check_fresh(base: URL, query: str) -> None:
    url = await create_database(base)
    try:
        assert url.database != "sqlops_not_there"
        async with sqlops.Database(url) as db, db.engine.connect() as conn:
            assert (await conn.execute(text(query))).scalar() == url.database
    finally:
        await drop_database(url)


@pytest.mark.postgresql
async def test_an_unreachable_server_is_one_line_without_sqlalchemy_links() -> None:
    with pytest.raises(sqlops.DatabaseUnavailableError) as info:
        await create_database("postgresql://nobody_xyz@127.0.0.1:5432/x")
    message = str(info.value)
    assert "\n" not in message and "sqlalche.me" not in message
    assert message.startswith("cannot create database sqlops_test_")
    assert 'role "nobody_xyz" does not exist' in message
