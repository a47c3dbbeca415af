"""SQA002: ``await`` on a synchronous method of an async session."""

from __future__ import annotations

from textwrap import dedent

import pytest

from sqlops.audit import check_source

HEADER = """\
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session
"""


def lines(body: str) -> list[int]:
    return [f.line for f in check_source(HEADER + dedent(body), select=["SQA002"])]


def marked(body: str) -> list[int]:
    source = (HEADER + dedent(body)).splitlines()
    return [n for n, text in enumerate(source, 1) if text.rstrip().endswith("# !")]


BAD = {
    "await add": """
        async def create(db: AsyncSession, user):
            await db.add(user)  # !
    """,
    "await add_all": """
        async def create(db: AsyncSession, users):
            await db.add_all(users)  # !
    """,
    "await expunge and expire": """
        async def detach(db: AsyncSession, user):
            await db.expunge(user)  # !
            await db.expire_all()  # !
    """,
    "await in_transaction": """
        async def busy(db: AsyncSession):
            return await db.in_transaction()  # !
    """,
    "await connection helper": """
        engine = create_async_engine("sqlite+aiosqlite://")
        async def busy():
            async with engine.connect() as conn:
                return await conn.in_transaction()  # !
    """,
}


@pytest.mark.parametrize("body", BAD.values(), ids=BAD.keys())
def test_flags_awaited_sync_method(body: str) -> None:
    assert lines(body) == marked(body)


def test_fix_drops_the_await() -> None:
    (finding,) = check_source(HEADER + "async def f(db: AsyncSession, u):\n    await db.add(u)\n")
    assert finding.code == "SQA002"
    assert finding.fix == "drop the `await`: `db.add(u)`"
    assert "TypeError" in finding.message


GOOD = {
    "plain add": """
        async def create(db: AsyncSession, user):
            db.add(user)
            await db.flush()
    """,
    "awaited coroutines": """
        async def create(db: AsyncSession, user):
            await db.refresh(user)
            await db.begin()
    """,
    "sync session inside run_sync callback": """
        def work(sync: Session, user):
            sync.add(user)
        async def create(db: AsyncSession, user):
            await db.run_sync(work, user)
    """,
    "unknown receiver": """
        async def create(repo, user):
            await repo.add(user)
    """,
}


@pytest.mark.parametrize("body", GOOD.values(), ids=GOOD.keys())
def test_leaves_correct_code_alone(body: str) -> None:
    assert lines(body) == []
