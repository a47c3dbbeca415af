"""Inheritance: a subclass's repository sees, changes and deletes only its own rows.

The base class's rows share the table (single-table) or the base table (joined) with the
subclass's; a statement built on the table instead of the model would count, change or
delete them too.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Mapper

import sqlops
from tests.styles.conftest import Env

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _base(env: Env) -> type[Any]:
    mapper: Mapper[Any] = env.style.model.__mapper__
    assert mapper.base_mapper is not mapper
    return mapper.base_mapper.class_


async def _rows(env: Env) -> tuple[sqlops.Repository[Any], sqlops.Repository[Any]]:
    """Two subclass rows and two base-class rows, all with this test's tag."""
    sub, base = env.standalone(), sqlops.Repository(_base(env), env.db)
    await sub.create_many([env.row(1), env.row(2)])
    for i in (3, 4):
        values = {k: v for k, v in env.row(i).items() if k in base.info.columns}
        await base.create(**values)
    return sub, base


async def test_reads_see_only_the_subclass(inheritance_env: Env, mode: str) -> None:
    env = inheritance_env
    await _rows(env)
    async with env.repos(mode) as r:
        assert await r.main.count(**env.only_mine) == 2
        assert len(await r.main.list(**env.only_mine)) == 2
        assert (await r.main.page(**env.only_mine)).total == 2
        assert len([o async for o in r.main.stream(**env.only_mine)]) == 2


async def test_writes_touch_only_the_subclass(inheritance_env: Env, mode: str) -> None:
    env = inheritance_env
    _, base = await _rows(env)
    async with env.repos(mode) as r:
        assert await r.main.update_where(values={env.style.counter: 50}, **env.only_mine) == 2
        assert await r.main.delete_where(**env.only_mine) == 2
    assert await base.count(**env.only_mine) == 2  # the base-class rows are untouched
    assert await base.count(**env.only_mine, **{env.style.counter: 50}) == 0
