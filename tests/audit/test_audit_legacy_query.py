"""SQA003: ``session.query()`` on an ``AsyncSession``."""

from __future__ import annotations

from textwrap import dedent

import pytest

from sqlops.audit import check_source

HEADER = """\
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, sessionmaker
"""


def lines(body: str) -> list[int]:
    return [f.line for f in check_source(HEADER + dedent(body), select=["SQA003"])]


def marked(body: str) -> list[int]:
    source = (HEADER + dedent(body)).splitlines()
    return [n for n, text in enumerate(source, 1) if text.rstrip().endswith("# !")]


BAD = {
    "query on AsyncSession": """
        async def users(db: AsyncSession, User):
            return db.query(User).all()  # !
    """,
    "awaited query is still wrong": """
        async def users(db: AsyncSession, User):
            return await db.query(User).all()  # !
    """,
    "closure over the async session inside run_sync": """
        async def users(db: AsyncSession, User):
            def inner(_sync):
                return 1
            rows = db.query(User).filter_by(active=True)  # !
            return await db.run_sync(inner)
    """,
}


@pytest.mark.parametrize("body", BAD.values(), ids=BAD.keys())
def test_flags_query_on_async_session(body: str) -> None:
    assert lines(body) == marked(body)


GOOD = {
    "sync Session keeps query()": """
        def users(db: Session, User):
            return db.query(User).all()
    """,
    "sync sessionmaker product": """
        SessionLocal = sessionmaker()
        def users(User):
            with SessionLocal() as db:
                return db.query(User).count()
    """,
    "inside a function passed to run_sync": """
        def legacy(session, User):
            return session.query(User).all()
        async def users(db: AsyncSession, User):
            return await db.run_sync(legacy, User)
    """,
    "lambda passed to run_sync": """
        async def users(db: AsyncSession, User):
            return await db.run_sync(lambda s: s.query(User).all())
    """,
    "select() is the 2.0 way": """
        async def users(db: AsyncSession, User):
            return (await db.scalars(select(User))).all()
    """,
}


@pytest.mark.parametrize("body", GOOD.values(), ids=GOOD.keys())
def test_leaves_correct_code_alone(body: str) -> None:
    assert lines(body) == []
