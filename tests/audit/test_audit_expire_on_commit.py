"""SQA006: async session factories left with ``expire_on_commit=True``."""

from __future__ import annotations

from textwrap import dedent

import pytest

from sqlops.audit import check_source

HEADER = """\
import sqlalchemy.ext.asyncio as sa_async
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker
"""


def lines(body: str, path: str = "app/db.py") -> list[int]:
    found = check_source(HEADER + dedent(body), path, select=["SQA006"])
    return [f.line for f in found]


def marked(body: str) -> list[int]:
    source = (HEADER + dedent(body)).splitlines()
    return [n for n, text in enumerate(source, 1) if text.rstrip().endswith("# !")]


BAD = {
    "async_sessionmaker default": """
        SessionLocal = async_sessionmaker(bind=None)  # !
    """,
    "module attribute spelling": """
        SessionLocal = sa_async.async_sessionmaker(bind=None)  # !
    """,
    "AsyncSession constructed directly": """
        async def work(engine):
            async with AsyncSession(engine) as s:  # !
                pass
    """,
    "sessionmaker with class_=AsyncSession": """
        SessionLocal = sessionmaker(bind=None, class_=AsyncSession)  # !
    """,
}


@pytest.mark.parametrize("body", BAD.values(), ids=BAD.keys())
def test_flags_default_expire_on_commit(body: str) -> None:
    assert lines(body) == marked(body)


GOOD = {
    "explicitly off": """
        SessionLocal = async_sessionmaker(bind=None, expire_on_commit=False)
    """,
    "explicitly on is a decision": """
        SessionLocal = async_sessionmaker(bind=None, expire_on_commit=True)
    """,
    "options passed through **kwargs": """
        def make(**options):
            return async_sessionmaker(**options)
    """,
    "sync sessionmaker reloads quietly": """
        SessionLocal = sessionmaker(bind=None)
        def work(engine):
            with Session(engine) as s:
                pass
    """,
    "calling a factory variable named sessionmaker (regression: litestar-fullstack)": """
        async def seed(sessionmaker: async_sessionmaker[AsyncSession]):
            async with sessionmaker() as session:
                pass
    """,
    "a variable named async_sessionmaker (regression: polar worker/_health.py)": """
        async def health(request):
            async_sessionmaker = getattr(request.state, "async_sessionmaker", None)
            async with async_sessionmaker() as session:
                pass
    """,
}


@pytest.mark.parametrize("body", GOOD.values(), ids=GOOD.keys())
def test_leaves_correct_code_alone(body: str) -> None:
    assert lines(body) == []


def test_test_code_is_skipped() -> None:
    body = BAD["async_sessionmaker default"]
    assert lines(body, "tests/conftest.py") == []
