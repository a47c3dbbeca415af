"""SQA011: ``create_async_engine()`` built per request."""

from __future__ import annotations

from textwrap import dedent

import pytest

from sqlops.audit import check_source

HEADER = """\
import functools
from contextlib import asynccontextmanager
from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

router = APIRouter()
"""


def lines(body: str, path: str = "app/db.py") -> list[int]:
    found = check_source(HEADER + dedent(body), path, select=["SQA011"])
    return [f.line for f in found]


def marked(body: str) -> list[int]:
    source = (HEADER + dedent(body)).splitlines()
    return [n for n, text in enumerate(source, 1) if text.rstrip().endswith("# !")]


BAD = {
    "in a route": """
        @router.get("/users")
        async def users():
            engine = create_async_engine("postgresql+asyncpg://db/app")  # !
            async with AsyncSession(engine, expire_on_commit=False) as s:
                return []
    """,
    "in the get_db dependency": """
        async def get_db():
            engine = create_async_engine("postgresql+asyncpg://db/app")  # !
            async with AsyncSession(engine, expire_on_commit=False) as session:
                yield session
    """,
    "in a function used with Depends()": """
        def get_engine():
            return create_async_engine("postgresql+asyncpg://db/app")  # !
        async def route(engine=Depends(get_engine)):
            pass
    """,
}


@pytest.mark.parametrize("body", BAD.values(), ids=BAD.keys())
def test_flags_engine_per_request(body: str) -> None:
    assert lines(body) == marked(body)


GOOD = {
    "module level": """
        engine = create_async_engine("postgresql+asyncpg://db/app")
        Session = async_sessionmaker(engine, expire_on_commit=False)
    """,
    "lifespan": """
        @asynccontextmanager
        async def lifespan(app):
            app.state.engine = create_async_engine("postgresql+asyncpg://db/app")
            yield
            await app.state.engine.dispose()
    """,
    "cached factory used with Depends()": """
        @functools.lru_cache
        def get_engine():
            return create_async_engine("postgresql+asyncpg://db/app")
        async def route(engine=Depends(get_engine)):
            pass
    """,
    "main, setup, init_*, create_app": """
        async def main():
            engine = create_async_engine("sqlite+aiosqlite://")
        def setup():
            engine = create_async_engine("sqlite+aiosqlite://")
        def init_db():
            engine = create_async_engine("sqlite+aiosqlite://")
        def create_app():
            engine = create_async_engine("sqlite+aiosqlite://")
    """,
    "plain helper called once": """
        def make_engine(url):
            return create_async_engine(url, pool_pre_ping=True)
    """,
    "session helper that disposes its engine (regression: fastcrud tests/conftest.py)": """
        @asynccontextmanager
        async def _async_session(url: str):
            engine = create_async_engine(url)
            async with AsyncSession(engine, expire_on_commit=False) as s:
                yield s
            await engine.dispose()
    """,
    "lazily cached in a global": """
        _engine = None
        def get_engine():
            global _engine
            if _engine is None:
                _engine = create_async_engine("postgresql+asyncpg://db/app")
            return _engine
        async def route(engine=Depends(get_engine)):
            pass
    """,
    "kept on an attribute": """
        class Holder:
            def get_engine(self):
                self._engine = create_async_engine("postgresql+asyncpg://db/app")
                return self._engine
        holder = Holder()
        async def route(engine=Depends(holder.get_engine)):
            pass
    """,
}


@pytest.mark.parametrize("body", GOOD.values(), ids=GOOD.keys())
def test_leaves_one_time_setup_alone(body: str) -> None:
    assert lines(body) == []


def test_pytest_fixtures_are_skipped() -> None:
    body = """
        import pytest
        @pytest.fixture
        async def session():
            engine = create_async_engine("sqlite+aiosqlite://")
            async with AsyncSession(engine, expire_on_commit=False) as s:
                yield s
    """
    assert lines(body) == []
    assert lines(BAD["in the get_db dependency"], "tests/conftest.py") == []
