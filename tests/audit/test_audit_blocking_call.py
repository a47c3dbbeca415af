"""SQA013: blocking database calls inside ``async def``."""

from __future__ import annotations

from textwrap import dedent

import pytest

from sqlops.audit import check_source

HEADER = """\
import sqlite3
import psycopg2
from fastapi import Depends
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, sessionmaker
"""


def lines(body: str, path: str = "app/routes.py") -> list[int]:
    found = check_source(HEADER + dedent(body), path, select=["SQA013"])
    return [f.line for f in found]


def marked(body: str) -> list[int]:
    source = (HEADER + dedent(body)).splitlines()
    return [n for n, text in enumerate(source, 1) if text.rstrip().endswith("# !")]


BAD = {
    "sync Session in an async route": """
        async def route(engine):
            with Session(engine) as s:
                s.execute("SELECT 1")  # !
    """,
    "sync sessionmaker product": """
        SessionLocal = sessionmaker()
        async def route():
            with SessionLocal() as s:
                s.commit()  # !
    """,
    "create_engine": """
        async def route(url):
            engine = create_engine(url)
            with engine.connect() as conn:  # !
                pass
    """,
    "DB-API connect": """
        async def route():
            conn = sqlite3.connect("app.db")  # !
            other = psycopg2.connect("dbname=app")
    """,
    "injected sync session used in async def": """
        def get_db():
            with SessionLocal() as db:
                yield db
        SessionLocal = sessionmaker()
        async def route(User, db: Session = Depends(get_db)):
            return db.query(User).all()  # !
    """,
}


@pytest.mark.parametrize("body", BAD.values(), ids=BAD.keys())
def test_flags_blocking_calls(body: str) -> None:
    assert lines(body) == marked(body)


GOOD = {
    "sync route runs in a threadpool": """
        def route(engine):
            with Session(engine) as s:
                s.execute("SELECT 1")
    """,
    "nested def handed to a thread": """
        import asyncio
        async def route(engine):
            def work():
                with Session(engine) as s:
                    return s.execute("SELECT 1")
            return await asyncio.to_thread(work)
    """,
    "async session": """
        async def route(db: AsyncSession, User):
            return await db.get(User, 1)
    """,
    "sync session object handed out, not used (regression: advanced-alchemy)": """
        async def handler(alchemy):
            engine = alchemy.get_sync_engine()
            return engine
    """,
    "builtin next() is not a provider (regression: advanced-alchemy)": """
        class Selector:
            def next(self) -> "Engine":
                return self._engines[0]
        async def pick(items):
            return next(a for a in items)
    """,
    "requests.Session is not SQLAlchemy": """
        from requests import Session as HTTPSession
        async def route():
            with HTTPSession() as s:
                s.get("https://example.invalid")
    """,
    "building a sync session does no I/O (regression: dispatch middleware)": """
        from sqlalchemy.orm import scoped_session
        async def db_session_middleware(request, call_next, engine):
            session = scoped_session(sessionmaker(bind=engine))
            request.state.db = session()
            return await call_next(request)
    """,
    "sync session handed to a thread (regression: sqladmin)": """
        import anyio.to_thread
        async def options(session_maker: sessionmaker, stmt):
            with session_maker() as session:
                return await anyio.to_thread.run_sync(session.execute, stmt)
    """,
    "engine built, not connected": """
        async def route(url):
            engine = create_engine(url)
            return engine
    """,
    "annotated Session but awaited: the code says async (regression: letta)": """
        async def get_job(session: Session, query):
            result = await session.execute(query)
            return result.scalar_one_or_none()
    """,
    "startup code": """
        async def lifespan(app, Base):
            engine = create_engine("postgresql://db/app")
            with engine.begin() as conn:
                Base.metadata.create_all(conn)
            yield
        async def main():
            conn = sqlite3.connect("seed.db")
    """,
}


@pytest.mark.parametrize("body", GOOD.values(), ids=GOOD.keys())
def test_leaves_correct_code_alone(body: str) -> None:
    assert lines(body) == []


def test_test_code_is_skipped() -> None:
    assert lines(BAD["create_engine"], "tests/test_routes.py") == []
    body = "async def test_roundtrip(engine):\n    s = Session(engine)\n"
    assert lines(body) == []
