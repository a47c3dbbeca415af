"""SQA008: one ``AsyncSession`` shared by concurrent tasks."""

from __future__ import annotations

from textwrap import dedent

import pytest

from sqlops.audit import check_source

HEADER = """\
import asyncio
from asyncio import gather
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
"""


def lines(body: str) -> list[int]:
    return [f.line for f in check_source(HEADER + dedent(body), select=["SQA008"])]


def marked(body: str) -> list[int]:
    source = (HEADER + dedent(body)).splitlines()
    return [n for n, text in enumerate(source, 1) if text.rstrip().endswith("# !")]


BAD = {
    "session handed to a long-lived task while the creator keeps using it (issue 13)": """
        async def start(db: AsyncSession, watch, User):
            asyncio.create_task(watch(db))  # !
            return await db.get(User, 1)
    """,
    "gather two queries on one session": """
        async def page(db: AsyncSession, q1, q2):
            return await asyncio.gather(db.execute(q1), db.scalar(q2))  # !
    """,
    "gather helpers that take the session": """
        async def page(db: AsyncSession, count, items):
            total, rows = await gather(count(db), items(session=db))  # !
    """,
    "gather over a comprehension": """
        async def load(db: AsyncSession, fetch, ids):
            return await asyncio.gather(*[fetch(db, i) for i in ids])  # !
    """,
    "two create_task calls": """
        async def run(db: AsyncSession, a, b):
            t1 = asyncio.create_task(a(db))
            t2 = asyncio.create_task(b(db))  # !
            await t1, t2
    """,
    "task group in a loop": """
        async def run(db: AsyncSession, work, items):
            async with asyncio.TaskGroup() as tg:
                for item in items:
                    tg.create_task(work(db, item))  # !
    """,
}


@pytest.mark.parametrize("body", BAD.values(), ids=BAD.keys())
def test_flags_shared_session(body: str) -> None:
    assert lines(body) == marked(body)


GOOD = {
    "task awaited before the creator uses the session again": """
        async def start(db: AsyncSession, watch, User):
            task = asyncio.create_task(watch(db))
            await task
            return await db.get(User, 1)
    """,
    "task handed the session, creator does no more database work": """
        async def start(db: AsyncSession, watch):
            asyncio.create_task(watch(db))
            return "started"
    """,
    "sequential awaits": """
        async def page(db: AsyncSession, q1, q2):
            return await db.execute(q1), await db.scalar(q2)
    """,
    "one session per task": """
        Session = async_sessionmaker(expire_on_commit=False)
        async def fetch(i):
            async with Session() as s:
                return await s.get(object, i)
        async def load(ids):
            return await asyncio.gather(*[fetch(i) for i in ids])
    """,
    "two different sessions": """
        async def page(a: AsyncSession, b: AsyncSession, q1, q2):
            return await asyncio.gather(a.execute(q1), b.execute(q2))
    """,
    "one task only": """
        async def run(db: AsyncSession, work):
            await asyncio.create_task(work(db))
    """,
    "passing the factory, not a session": """
        Session = async_sessionmaker(expire_on_commit=False)
        async def run(work, items):
            await asyncio.gather(*[work(Session, item) for item in items])
    """,
    "tasks awaited one at a time (regression: sqlops tests/guards)": """
        async def turns(db: AsyncSession, a, b):
            first = await asyncio.create_task(a(db))
            second = await asyncio.create_task(b(db))
            await asyncio.create_task(db.commit())
    """,
}


@pytest.mark.parametrize("body", GOOD.values(), ids=GOOD.keys())
def test_leaves_correct_code_alone(body: str) -> None:
    assert lines(body) == []
