"""Every Repository method on every model style, backend and mode (standalone / injected)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func

import sqlops
from tests.styles.conftest import Env

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _create(repo: sqlops.Repository[Any], env: Env, *numbers: int) -> list[Any]:
    return [await repo.create(**env.row(i)) for i in numbers]


def _names(env: Env, objs: list[Any]) -> list[str]:
    return [getattr(o, env.style.required) for o in objs]


async def test_create_get_get_one(env: Env, mode: str) -> None:
    async with env.repos(mode) as r:
        obj = await r.main.create(**env.row(1))
        pk = env.style.pk(obj)
        assert pk is not None and pk != ()
        got = await r.main.get(pk)
        assert got is not None and getattr(got, env.style.required) == "n0001"
        assert getattr(await r.main.get_one(pk), env.style.counter) == 1
        assert await r.main.get(env.style.missing_parent()) is None
        with pytest.raises(sqlops.NotFoundError):
            await r.main.get_one(env.style.missing_parent())
    assert await env.standalone().count(**env.only_mine) == 1


async def test_first_one_list_count_exists(env: Env, mode: str) -> None:
    required = env.style.required
    async with env.repos(mode) as r:
        await _create(r.main, env, 0, 1, 2)
        mine = env.only_mine
        assert await r.main.count(**mine) == 3
        assert await r.main.exists(**mine)
        assert not await r.main.exists(**{env.style.tag: env.tag + "-none"})
        first = await r.main.first(order_by=f"-{required}", **mine)
        assert getattr(first, required) == "n0002"
        one = await r.main.one(**mine, **{required: "n0001"})
        assert getattr(one, env.style.counter) == 1
        with pytest.raises(sqlops.MultipleFoundError):
            await r.main.one(**mine)
        listed = await r.main.list(order_by=required, limit=2, offset=1, **mine)
        assert _names(env, listed) == ["n0001", "n0002"]


async def test_page_and_cursor_page(env: Env, mode: str) -> None:
    required, mine = env.style.required, env.only_mine
    async with env.repos(mode) as r:
        await _create(r.main, env, 0, 1, 2)
        page = await r.main.page(page=2, per_page=2, order_by=required, **mine)
        assert (page.total, page.pages, _names(env, page.items)) == (3, 2, ["n0002"])
        first = await r.main.cursor_page(limit=2, order_by=required, **mine)
        assert _names(env, first.items) == ["n0000", "n0001"] and first.next_cursor
        rest = await r.main.cursor_page(after=first.next_cursor, limit=2, order_by=required, **mine)
        assert _names(env, rest.items) == ["n0002"] and rest.next_cursor is None


async def test_stream(env: Env, mode: str) -> None:
    required = env.style.required
    async with env.repos(mode) as r:
        await _create(r.main, env, 2, 0, 1)
        streamed = [
            o async for o in r.main.stream(order_by=required, batch_size=2, **env.only_mine)
        ]
        assert _names(env, streamed) == ["n0000", "n0001", "n0002"]


async def test_create_many(env: Env, mode: str) -> None:
    async with env.repos(mode) as r:
        assert await r.main.create_many([env.row(i) for i in range(4)], chunk_size=3) == 4
        created = await r.main.create_many([env.row(i) for i in range(4, 6)], returning=True)
        assert _names(env, created) == ["n0004", "n0005"]
        assert all(env.style.pk(o) is not None for o in created)
        assert await r.main.count(**env.only_mine) == 6


async def test_bulk_writes_take_sql_expressions_per_row(env: Env, mode: str) -> None:
    # computed values (func.lower, func.abs) in some rows: those go through the unit of
    # work (create_many), a rendered VALUES (upsert_many) or an UPDATE each (update_many)
    required, counter, unique = env.style.required, env.style.counter, list(env.style.unique)
    rows = [env.row(i) for i in range(3)]
    rows[1][required] = func.lower("N0001")
    rows[2][counter] = func.abs(-5)
    async with env.repos(mode) as r:
        assert await r.main.create_many(rows) == 3
        created = await r.main.create_many(
            [env.row(3, **{required: func.lower("N0003")})], returning=True
        )
        assert _names(env, created) == ["n0003"]  # loaded, usable after the session ends
        found = await r.main.list(order_by=required, **env.only_mine)
        assert _names(env, found) == ["n0000", "n0001", "n0002", "n0003"]
        assert getattr(found[2], counter) == 5
        keys = [{k: getattr(found[i], k) for k in env.style.pk_keys} for i in (0, 1)]
        changes = [{**keys[0], required: func.lower("M0")}, {**keys[1], required: "m1"}]
        assert await r.main.update_many(changes) == 2
        if env.style.upsert:
            again = [env.row(i, **{required: func.lower(f"V{i}")}) for i in (2, 3)]
            assert await r.main.upsert_many(again, conflict=unique) == 2
        found = await r.main.list(order_by=required, **env.only_mine)
        expected = ["m0", "m1", "v2", "v3"] if env.style.upsert else ["m0", "m1", "n0002", "n0003"]
        assert _names(env, found) == expected


async def test_update_and_update_where(env: Env, mode: str) -> None:
    required, mine = env.style.required, env.only_mine
    async with env.repos(mode) as r:
        obj, _ = await _create(r.main, env, 1, 2)
        pk = env.style.pk(obj)
        updated = await r.main.update(pk, **{required: "changed"})
        assert getattr(updated, required) == "changed"
        assert getattr(await r.main.get_one(pk), required) == "changed"
        assert await r.main.update_where(values={env.style.counter: 7}, **mine) == 2
        assert await r.main.count(**mine, **{env.style.counter: 7}) == 2
        with pytest.raises(sqlops.NotFoundError):
            await r.main.update(env.style.missing_parent(), **{required: "x"})


async def test_delete_and_delete_where(env: Env, mode: str) -> None:
    async with env.repos(mode) as r:
        first, *_ = await _create(r.main, env, 1, 2, 3)
        pk = env.style.pk(first)
        assert await r.main.delete(pk) is True
        assert await r.main.delete(pk) is False
        assert await r.main.get(pk) is None
        assert await r.main.delete_where(**env.only_mine) == 2
        assert await r.main.count(**env.only_mine) == 0


async def test_get_or_create(env: Env, mode: str) -> None:
    row = env.row(1)
    lookup = {k: row[k] for k in env.style.unique}
    defaults = {k: v for k, v in row.items() if k not in lookup}
    async with env.repos(mode) as r:
        obj, created = await r.main.get_or_create(defaults=defaults, **lookup)
        again, created_again = await r.main.get_or_create(defaults=defaults, **lookup)
        assert (created, created_again) == (True, False)
        assert env.style.pk(again) == env.style.pk(obj)
        assert await r.main.count(**env.only_mine) == 1


async def test_upsert(env: Env, mode: str) -> None:
    required, unique = env.style.required, list(env.style.unique)
    async with env.repos(mode) as r:
        if not env.style.upsert:
            with pytest.raises(TypeError, match="joined-table inheritance"):
                await r.main.upsert(env.row(1), conflict=unique)
            return
        inserted = await r.main.upsert(env.row(1), conflict=unique)
        updated = await r.main.upsert(env.row(1, **{required: "again"}), conflict=unique)
        assert env.style.pk(updated) == env.style.pk(inserted)
        assert getattr(updated, required) == "again"
        assert await r.main.count(**env.only_mine) == 1


async def test_upsert_many(env: Env, mode: str) -> None:
    required, unique = env.style.required, list(env.style.unique)
    async with env.repos(mode) as r:
        if not env.style.upsert:
            with pytest.raises(TypeError, match="joined-table inheritance"):
                await r.main.upsert_many([env.row(1)], conflict=unique)
            return
        assert await r.main.upsert_many([env.row(i) for i in range(3)], conflict=unique) == 3
        changed = [env.row(i, **{required: f"u{i}"}) for i in range(3)]
        assert await r.main.upsert_many(changed, conflict=unique) == 3
        rows = await r.main.list(order_by=required, **env.only_mine)
        assert _names(env, rows) == ["u0", "u1", "u2"]


async def test_increment(env: Env, mode: str) -> None:
    counter = env.style.counter
    async with env.repos(mode) as r:
        (obj,) = await _create(r.main, env, 1)
        pk = env.style.pk(obj)
        assert await r.main.increment(pk, counter, 5) == 6
        assert getattr(await r.main.get_one(pk), counter) == 6
        with pytest.raises(sqlops.NotFoundError):
            await r.main.increment(env.style.missing_parent(), counter)


async def test_soft_delete_and_restore(soft_env: Env, mode: str) -> None:
    env = soft_env
    async with env.repos(mode) as r:
        (obj,) = await _create(r.main, env, 1)
        pk = env.style.pk(obj)
        assert await r.main.soft_delete(pk) is True
        assert await r.main.get(pk) is None
        assert await r.main.count(**env.only_mine) == 0
        assert await r.main.count(with_deleted=True, **env.only_mine) == 1
        assert await r.main.restore(pk) is True
        assert await r.main.get(pk) is not None
