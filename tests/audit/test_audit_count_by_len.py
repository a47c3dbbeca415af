"""SQA012: counting rows with ``len()`` of a fetched list."""

from __future__ import annotations

from textwrap import dedent

import pytest

from sqlops.audit import check_source

HEADER = """\
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
"""


def lines(body: str, path: str = "app/stats.py") -> list[int]:
    found = check_source(HEADER + dedent(body), path, select=["SQA012"])
    return [f.line for f in found]


def marked(body: str) -> list[int]:
    source = (HEADER + dedent(body)).splitlines()
    return [n for n, text in enumerate(source, 1) if text.rstrip().endswith("# !")]


BAD = {
    "two steps: fetched, then only counted (issue 13)": """
        async def exists(db: AsyncSession, User, email):
            rows = (await db.scalars(select(User).where(User.email == email))).all()
            return len(rows) > 0  # !
    """,
    "len of execute().scalars().all()": """
        async def count(db: AsyncSession, User):
            return len((await db.execute(select(User))).scalars().all())  # !
    """,
    "len of scalars().all()": """
        async def count(db: AsyncSession, User):
            return len((await db.scalars(select(User))).all())  # !
    """,
    "len of list(scalars())": """
        async def count(db: AsyncSession, User):
            return len(list(await db.scalars(select(User))))  # !
    """,
    "result used only to count": """
        async def count(db: AsyncSession, User):
            result = await db.execute(select(User))
            return len(result.scalars().unique().all())  # !
    """,
    "sync query().all()": """
        def count(db: Session, User):
            return len(db.query(User).filter(User.active).all())  # !
    """,
}


@pytest.mark.parametrize("body", BAD.values(), ids=BAD.keys())
def test_flags_len_counting(body: str) -> None:
    assert lines(body) == marked(body)


GOOD = {
    "rows returned by a DELETE ... RETURNING (regression: tracecat)": """
        import sqlalchemy as sa
        async def prune(db: AsyncSession, Item):
            deleted = await db.scalars(sa.delete(Item).where(Item.old).returning(Item.id))
            return len(deleted.all())
    """,
    "two steps, rows used for more than the count": """
        async def page(db: AsyncSession, User):
            rows = (await db.scalars(select(User))).all()
            return {"total": len(rows), "items": rows}
    """,
    "count in SQL": """
        async def count(db: AsyncSession, User):
            return await db.scalar(select(func.count()).select_from(User))
    """,
    "rows are also used": """
        async def page(db: AsyncSession, User):
            rows = (await db.scalars(select(User))).all()
            return {"items": rows, "total": len(rows)}
    """,
    "result used for more than the count": """
        async def page(db: AsyncSession, User):
            result = await db.execute(select(User))
            rows = result.scalars().all()
            return rows, len(rows)
    """,
    "unknown receiver": """
        async def count(api, User):
            return len((await api.execute(User)).scalars().all())
    """,
}


@pytest.mark.parametrize("body", GOOD.values(), ids=GOOD.keys())
def test_leaves_correct_code_alone(body: str) -> None:
    assert lines(body) == []


def test_test_code_is_skipped() -> None:
    assert lines(BAD["len of scalars().all()"], "tests/test_stats.py") == []
