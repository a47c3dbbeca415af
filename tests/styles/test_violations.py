"""Every ConstraintViolation on every model style and backend names table, columns, constraint.

Standalone, the call's own transaction rolls back. Injected, the write runs in
``db.savepoint(session)`` and the caller's transaction goes on after it: a later write
in it is committed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import sqlops
from tests.styles.conftest import Env, Repos

pytestmark = pytest.mark.asyncio(loop_scope="session")

Action = Callable[[Repos], Awaitable[Any]]


async def _violate(
    env: Env, mode: str, cls: type[sqlops.ConstraintViolation], action: Action
) -> Any:
    """Run ``action``, which must raise ``cls``; injected, inside a savepoint, then go on."""
    async with env.repos(mode) as r:
        if r.session is None:
            with pytest.raises(cls) as info:
                await action(r)
        else:
            with pytest.raises(cls) as info:
                async with env.db.savepoint(r.session):
                    await action(r)
            await r.main.create(**env.row(999))  # the transaction goes on
    if mode == "injected":
        assert await env.standalone().exists(**env.only_mine, **_unique_of(env, env.row(999)))
    return info.value


def _unique_of(env: Env, row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in env.style.unique}


def _assert_names(env: Env, err: sqlops.ConstraintViolation, kind: str) -> None:
    table, columns, constraint = env.style.expect[kind][env.backend]
    assert (err.table, err.columns, err.constraint) == (table, columns, constraint)
    assert err.schema == env.style.schema
    assert err.__cause__ is not None
    assert env.tag not in str(err)  # values never reach the message


async def _parent(env: Env) -> Any:
    return await env.standalone().create(**env.row(1))


def _clash(env: Env, existing: Any) -> dict[str, Any]:
    """A new row that repeats ``existing``'s unique key and nothing else."""
    row = env.row(2)
    row.update({k: getattr(existing, k) for k in env.style.unique})
    return row


async def test_unique_violation_on_create(env: Env, mode: str) -> None:
    existing = await _parent(env)
    err = await _violate(
        env, mode, sqlops.UniqueViolation, lambda r: r.main.create(**_clash(env, existing))
    )
    _assert_names(env, err, "unique")


async def test_unique_violation_in_create_many(env: Env, mode: str) -> None:
    existing = await _parent(env)
    rows = [env.row(3), _clash(env, existing)]
    err = await _violate(env, mode, sqlops.UniqueViolation, lambda r: r.main.create_many(rows))
    _assert_names(env, err, "unique")
    assert await env.standalone().count(**env.only_mine) == 1 + (mode == "injected")


async def test_unique_violation_on_update(env: Env, mode: str) -> None:
    first = await _parent(env)
    second = await env.standalone().create(**env.row(2))
    taken = {k: getattr(first, k) for k in env.style.unique}
    err = await _violate(
        env,
        mode,
        sqlops.UniqueViolation,
        lambda r: r.main.update_where(values=taken, **_unique_of(env, env.row(2))),
    )
    _assert_names(env, err, "unique")
    still = await env.standalone().get_one(env.style.pk(second))
    assert _unique_of(env, vars(still)) == _unique_of(env, env.row(2))


async def test_unique_violation_from_upsert(upsert_env: Env, mode: str) -> None:
    """ON CONFLICT (primary key) DO UPDATE sets a unique column another row has."""
    env = upsert_env
    first = await _parent(env)
    second = await env.standalone().create(**env.row(2))
    values = env.row(2, **{k: getattr(second, k) for k in env.style.pk_keys})
    values.update({k: getattr(first, k) for k in env.style.unique})
    values[env.style.required] = "upserted"
    err = await _violate(env, mode, sqlops.UniqueViolation, lambda r: r.main.upsert(values))
    _assert_names(env, err, "unique")
    still = await env.standalone().get_one(env.style.pk(second))
    assert getattr(still, env.style.required) == "n0002"


async def test_foreign_key_violation_on_insert(env: Env, mode: str) -> None:
    missing = env.style.missing_parent()
    err = await _violate(
        env,
        mode,
        sqlops.ForeignKeyViolation,
        lambda r: r.child.create(**env.style.child_row(env.tag, missing)),
    )
    _assert_names(env, err, "foreign")


async def test_foreign_key_violation_on_parent_delete(env: Env, mode: str) -> None:
    parent = await _parent(env)
    pk = env.style.pk(parent)
    await sqlops.Repository(env.style.child, env.db).create(**env.style.child_row(env.tag, pk))
    err = await _violate(env, mode, sqlops.ForeignKeyViolation, lambda r: r.main.delete(pk))
    _assert_names(env, err, "foreign")
    assert await env.standalone().get(pk) is not None


async def test_not_null_violation(env: Env, mode: str) -> None:
    row = env.row(4, **{env.style.required: None})
    err = await _violate(env, mode, sqlops.NotNullViolation, lambda r: r.main.create(**row))
    _assert_names(env, err, "not_null")


async def test_check_violation_on_create(env: Env, mode: str) -> None:
    row = env.row(5, **{env.style.counter: -1})
    err = await _violate(env, mode, sqlops.CheckViolation, lambda r: r.main.create(**row))
    _assert_names(env, err, "check")


async def test_check_violation_on_update(env: Env, mode: str) -> None:
    pk = env.style.pk(await _parent(env))
    err = await _violate(
        env,
        mode,
        sqlops.CheckViolation,
        lambda r: r.main.update(pk, **{env.style.counter: -5}),
    )
    _assert_names(env, err, "check")
    assert getattr(await env.standalone().get_one(pk), env.style.counter) == 1
