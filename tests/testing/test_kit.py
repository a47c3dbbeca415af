"""The kit behind the fixtures: throwaway database, schema, one engine per event loop."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import URL

import sqlops
from sqlops.testing import create_database
from sqlops.testing._kit import Kit, in_thread
from tests.models import Base


async def table_names(url: URL) -> set[str]:
    database = sqlops.Database(url)
    try:
        async with database.engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await database.dispose()


def test_throwaway_database_gets_the_schema_and_is_dropped(backend: str, url: URL | str) -> None:
    kit = Kit.start(url, metadata=Base.metadata)
    try:
        if backend != "sqlite":
            assert kit.url.database != sqlops.Database(url).url.database  # a database of its own
            assert kit.url.database and kit.url.database.startswith("sqlops_test_")
        assert {"users", "teams", "posts"} <= in_thread(lambda: table_names(kit.url))
        assert kit.options == {"n_plus_one": "raise", "leaked_sessions": "warn"}
        assert kit.database.n_plus_one == "raise"
    finally:
        kit.close()
    if backend != "sqlite":
        with pytest.raises(sqlops.DatabaseUnavailableError):
            in_thread(sqlops.Database(kit.url).ping)


def test_schema_failure_drops_the_new_database(
    backend: str, url: URL | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken(Exception):
        pass

    created: list[URL] = []

    async def create_and_remember(base: URL) -> URL:
        created.append(await create_database(base))
        return created[-1]

    monkeypatch.setattr("sqlops.testing._kit.create_database", create_and_remember)

    class Metadata:  # create_all() fails half-way, as a bad model would
        tables: dict[str, object] = {}

        def create_all(self, *args: object, **kwargs: object) -> None:
            raise Broken

    with pytest.raises(Broken):
        Kit.start(url, metadata=Metadata())  # type: ignore[arg-type]
    if backend != "sqlite":
        [name] = created
        with pytest.raises(sqlops.DatabaseUnavailableError):
            in_thread(sqlops.Database(name).ping)


async def test_one_pooled_database_per_event_loop_disposed_with_its_loop(
    url: URL | str,
) -> None:
    kit = Kit.start(url)
    try:
        here = await kit.loop_database()
        assert await kit.loop_database() is here
        assert here is not kit.database

        async def in_new_loop() -> tuple[sqlops.Database, int]:
            database = await kit.loop_database()
            await database.ping()
            return database, len(kit._by_loop)

        there, registered = await asyncio.to_thread(asyncio.run, in_new_loop())
        assert there is not here
        assert registered == 2  # while that loop ran...
        [ours] = kit._by_loop.values()  # ...and only ours once it shut down
        assert ours.database is here
        await here.ping()
    finally:
        await asyncio.to_thread(kit.close)
