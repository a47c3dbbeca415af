"""The N+1 detector: one lazy load per parent row, from one line, is reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

import sqlops
from sqlops._guards import NPlusOneError, NPlusOneWarning
from sqlops.testing import count_queries
from tests.guards.conftest import MakeDb, add_users_with_posts
from tests.models import Post, User


def line_of(marker: str) -> int:
    """The line number in this file of the line ending with ``marker``."""
    lines = Path(__file__).read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.rstrip().endswith(marker))


async def test_loop_over_parents_raises_naming_relationship_count_line_and_fix(
    make_db: MakeDb,
) -> None:
    db = await make_db(n_plus_one="raise")
    await add_users_with_posts(db, 10)
    async with db.session() as session:
        users = (await session.scalars(select(User).order_by(User.id))).all()
        loaded = []
        with pytest.raises(NPlusOneError) as caught:
            for user in users:
                loaded.append(await user.awaitable_attrs.posts)  # loop-load
    message = str(caught.value)
    assert "User.posts was lazy-loaded separately for 2 User rows" in message
    assert f"test_n_plus_one.py:{line_of('# loop-load')}" in message
    assert "load=['posts']" in message and "selectinload(User.posts)" in message
    assert isinstance(caught.value, sqlops.LazyLoadError)
    assert len(loaded) == 1  # the refused load never ran


async def test_eager_loading_is_silent_and_takes_two_queries(make_db: MakeDb) -> None:
    db = await make_db(n_plus_one="raise")
    await add_users_with_posts(db, 10)
    with count_queries(db) as q:
        users = await sqlops.Repository(User, db).list(load=["posts"])
    assert q.count == 2
    assert [post.title for user in users for post in user.posts] == [f"post {n}" for n in range(10)]


async def test_refresh_loop_is_detected(make_db: MakeDb) -> None:
    db = await make_db(n_plus_one="raise")
    await add_users_with_posts(db, 3)
    async with db.session() as session:
        users = (await session.scalars(select(User))).all()
        with pytest.raises(NPlusOneError, match=r"User\.posts"):
            for user in users:
                await session.refresh(user, ["posts"])


async def test_many_to_one_loop_is_detected(make_db: MakeDb) -> None:
    db = await make_db(n_plus_one="raise")
    await add_users_with_posts(db, 3)
    async with db.session() as session:
        posts = (await session.scalars(select(Post))).all()
        with pytest.raises(NPlusOneError, match=r"Post\.author was lazy-loaded separately"):
            for post in posts:
                await post.awaitable_attrs.author


async def test_warn_mode_warns_once_and_loads_everything(make_db: MakeDb) -> None:
    db = await make_db(n_plus_one="warn")
    await add_users_with_posts(db, 10)
    async with db.session() as session:
        users = (await session.scalars(select(User))).all()
        with pytest.warns(NPlusOneWarning) as warned:
            titles = [(await user.awaitable_attrs.posts)[0].title for user in users]
    assert len(titles) == 10
    assert len(warned) == 1
    assert warned[0].filename == __file__  # points at the loop, not at SQLAlchemy


async def test_off_by_default(make_db: MakeDb) -> None:
    db = await make_db()
    await add_users_with_posts(db, 5)
    async with db.session() as session:
        for user in (await session.scalars(select(User))).all():
            await user.awaitable_attrs.posts


async def test_separate_lines_and_repeated_parents_are_not_a_loop(make_db: MakeDb) -> None:
    db = await make_db(n_plus_one="raise")
    await add_users_with_posts(db, 2)
    async with db.session() as session:
        first, second = (await session.scalars(select(User).order_by(User.id))).all()
        await first.awaitable_attrs.posts
        await second.awaitable_attrs.posts  # another line: not the same loop
        for _ in range(3):
            await session.refresh(first, ["posts"])  # one parent, however often


async def test_session_stays_usable_after_the_error(make_db: MakeDb) -> None:
    db = await make_db(n_plus_one="raise")
    await add_users_with_posts(db, 3)
    async with db.session() as session:
        users = (await session.scalars(select(User))).all()
        with pytest.raises(NPlusOneError):
            for user in users:
                await user.awaitable_attrs.posts
        fixed = (await session.scalars(select(User).options(selectinload(User.posts)))).all()
        assert all(len(user.posts) == 1 for user in fixed)


async def test_invalid_mode_is_refused(db: sqlops.Database) -> None:
    with pytest.raises(ValueError, match="n_plus_one must be one of"):
        sqlops.Database(db.url, n_plus_one="loud")  # type: ignore[arg-type]
