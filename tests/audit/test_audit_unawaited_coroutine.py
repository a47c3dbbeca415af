"""SQA001: async session coroutine methods called without ``await``."""

from __future__ import annotations

from textwrap import dedent

import pytest

from sqlops.audit import check_source

HEADER = """\
from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
"""


def lines(body: str) -> list[int]:
    """Return the lines SQA001 flags in HEADER + body."""
    return [f.line for f in check_source(HEADER + dedent(body), select=["SQA001"])]


def marked(body: str) -> list[int]:
    """Return the lines of HEADER + body that end with the ``# !`` marker."""
    source = (HEADER + dedent(body)).splitlines()
    return [n for n, text in enumerate(source, 1) if text.rstrip().endswith("# !")]


BAD = {
    "coroutine returned from an async def (issue 13)": """
        async def find(db: AsyncSession, User, id):
            return db.get(User, id)  # !
    """,
    "coroutine wrapped in list() / len() / sorted() / set()": """
        async def rows(db: AsyncSession, q):
            a = list(db.scalars(q))  # !
            b = len(db.execute(q))  # !
            c = sorted(db.scalars(q))  # !
            d = set(db.scalars(q))  # !
    """,
    "coroutine wrapped in typing.cast()": """
        import typing
        async def rows(db: AsyncSession, q, Result):
            return typing.cast(Result, db.execute(q)).scalars()  # !
    """,
    "variable tested before it is passed on (issue 13)": """
        import asyncio
        async def rows(db: AsyncSession, q):
            pending = db.execute(q)  # !
            if not pending:
                return None
            return await asyncio.gather(pending)
    """,
    "factory made by assignment (issue 13)": """
        from contextlib import asynccontextmanager
        Session = async_sessionmaker(expire_on_commit=False)
        async def get_session():
            async with Session() as session:
                yield session
        get_ctx = asynccontextmanager(get_session)
        async def drop(obj):
            async with get_ctx() as s:
                s.delete(obj)  # !
    """,
    "bare delete (the classic)": """
        async def remove(db: AsyncSession, user):
            db.delete(user)  # !
    """,
    "bare commit": """
        async def save(db: AsyncSession):
            db.commit()  # !
    """,
    "result used as if awaited": """
        async def names(db: AsyncSession, stmt):
            return db.execute(stmt).scalars().all()  # !
    """,
    "coroutine tested for truth": """
        async def exists(db: AsyncSession, User, pk):
            if db.get(User, pk):  # !
                return True
    """,
    "assigned and never awaited": """
        async def load(db: AsyncSession, stmt):
            result = db.execute(stmt)  # !
            return result.scalars().all()
    """,
    "session from async_sessionmaker": """
        Session = async_sessionmaker(expire_on_commit=False)
        async def job(obj):
            async with Session() as s:
                s.merge(obj)  # !
    """,
    "Depends(get_db) yielding from an async sessionmaker": """
        Session = async_sessionmaker(expire_on_commit=False)
        async def get_db():
            async with Session() as session:
                yield session
        async def route(obj, db=Depends(get_db)):
            db.refresh(obj)  # !
    """,
    "repository attribute typed in __init__": """
        class Users:
            def __init__(self, session: AsyncSession) -> None:
                self.session = session
            async def remove(self, user):
                self.session.delete(user)  # !
    """,
    "bare begin() starts nothing": """
        async def tx(db: AsyncSession):
            db.begin()  # !
    """,
    "async engine dispose": """
        engine = create_async_engine("sqlite+aiosqlite://")
        async def shutdown():
            engine.dispose()  # !
    """,
    "connection from engine.begin()": """
        engine = create_async_engine("sqlite+aiosqlite://")
        async def ddl(meta):
            async with engine.begin() as conn:
                conn.run_sync(meta.create_all)  # !
    """,
    "sqlops db.session()": """
        from sqlops import Database
        db = Database()
        async def remove(user):
            async with db.session() as s:
                s.delete(user)  # !
    """,
}


@pytest.mark.parametrize("body", BAD.values(), ids=BAD.keys())
def test_flags_unawaited_coroutine(body: str) -> None:
    assert marked(body)
    assert lines(body) == marked(body)


def test_reports_the_call_line_and_a_fix() -> None:
    src = HEADER + "async def f(db: AsyncSession, u):\n    db.delete(u)\n"
    (finding,) = check_source(src, select=["SQA001"])
    assert (finding.code, finding.line, finding.column) == ("SQA001", 4, 5)
    assert "row is not deleted" in finding.message
    assert finding.fix == "write `await db.delete(...)`"


GOOD = {
    "awaited": """
        async def remove(db: AsyncSession, user):
            await db.delete(user)
            await db.commit()
    """,
    "async with begin()": """
        async def tx(db: AsyncSession):
            async with db.begin():
                db.add(object())
            async with db.begin_nested():
                pass
    """,
    "awaited begin()": """
        async def tx(db: AsyncSession):
            await db.begin()
    """,
    "sync Session is not async": """
        from sqlalchemy.orm import Session
        def remove(db: Session, user):
            db.delete(user)
            db.commit()
    """,
    "sync sessionmaker": """
        from sqlalchemy.orm import sessionmaker
        SessionLocal = sessionmaker()
        def job(obj):
            with SessionLocal() as s:
                s.delete(obj)
    """,
    "aiohttp session named session": """
        import aiohttp
        async def fetch(url):
            async with aiohttp.ClientSession() as session:
                session.get(url)
    """,
    "unknown object named db": """
        async def remove(db, user):
            db.delete(user)
    """,
    "cast() of an awaited call": """
        import typing
        async def rows(db: AsyncSession, q, Result):
            return typing.cast(Result, await db.execute(q)).scalars()
    """,
    "list() of an awaited call": """
        async def rows(db: AsyncSession, q):
            return list(await db.scalars(q))
    """,
    "coroutine returned from an async def that is a plain passthrough of create_task": """
        import asyncio
        async def spawn(db: AsyncSession, q):
            return asyncio.ensure_future(db.execute(q))
    """,
    "coroutine passed on to gather": """
        import asyncio
        async def both(a: AsyncSession, b: AsyncSession, s1, s2):
            await asyncio.gather(a.execute(s1), b.execute(s2))
    """,
    "coroutine returned from a plain def": """
        def save(db: AsyncSession):
            return db.commit()
    """,
    "assigned then awaited": """
        async def load(db: AsyncSession, stmt):
            pending = db.execute(stmt)
            result = await pending
            return result
    """,
    "stream under async with": """
        engine = create_async_engine("sqlite+aiosqlite://")
        async def rows(stmt):
            async with engine.connect() as conn:
                async with conn.stream(stmt) as result:
                    pass
    """,
    "union of sync and async is unknown": """
        from sqlalchemy.orm import Session
        def remove(db: Session | AsyncSession, user):
            db.delete(user)
    """,
    "name rebound to something unknown": """
        async def remove(db: AsyncSession, user, other):
            db = other
            db.delete(user)
    """,
    "sqlops.sync.Database: its sessions are sync (issue 15)": """
        from sqlops import sync

        def rename(sync_db: sync.Database, team):
            with sync_db.session() as session:
                session.execute(team)
                session.rollback()
            with sync_db.engine.connect() as conn:
                conn.execute(team)
            raw = sync_db.engine.raw_connection()
    """,
    "sqlops.sync.Database built in place": """
        import sqlops.sync

        def count(team):
            db = sqlops.sync.Database()
            with db.transaction() as session:
                session.execute(team)
    """,
}


@pytest.mark.parametrize("body", GOOD.values(), ids=GOOD.keys())
def test_leaves_correct_code_alone(body: str) -> None:
    assert lines(body) == []


def test_an_async_database_still_yields_async_sessions() -> None:
    body = """
        import sqlops

        async def rename(db: sqlops.Database, team):
            async with db.session() as session:
                session.execute(team)  # !
    """
    assert lines(body) == marked(body) != []


def test_local_sessionmaker_variable_is_not_sqlalchemys() -> None:
    # Regression (polar scripts): `sessionmaker = create_async_sessionmaker(engine)` shadows
    # SQLAlchemy's sync `sessionmaker`; sessions it makes are async.
    body = """
        def create_async_sessionmaker(engine) -> async_sessionmaker[AsyncSession]:
            return async_sessionmaker(engine, expire_on_commit=False)
        async def script(engine, obj):
            sessionmaker = create_async_sessionmaker(engine)
            async with sessionmaker() as session:
                session.delete(obj)  # !
    """
    assert lines(body) == marked(body)


REPOSITORY = """\
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

class UserRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

class SyncRepository:
    def __init__(self, session: Session):
        self.session = session
"""


def test_session_of_a_parameter_typed_as_a_repository_issue_13() -> None:
    bad = REPOSITORY + "async def drop(repo: UserRepository, obj):\n    repo.session.delete(obj)\n"
    assert [(f.code, f.line) for f in check_source(bad)] == [("SQA001", 12)]


def test_session_of_a_sync_or_unknown_repository_is_left_alone() -> None:
    good = REPOSITORY + (
        "def drop(repo: SyncRepository, obj):\n    repo.session.delete(obj)\n"
        "async def drop2(repo: OtherRepository, obj):\n    repo.session.delete(obj)\n"
        "async def drop3(repo, obj):\n    repo.session.delete(obj)\n"
    )
    assert check_source(good, select=["SQA001"]) == []


def test_session_reached_through_a_repository_attribute_issue_13() -> None:
    service = REPOSITORY + (
        "class UserService:\n"
        "    def __init__(self, users: UserRepository, legacy: SyncRepository):\n"
        "        self.users = users\n"
        "        self.legacy = legacy\n"
        "        self.built = UserRepository(None)\n"
        "    async def drop(self, obj):\n"
        "        self.users.session.delete(obj)\n"  # !
        "        self.built.session.commit()\n"  # !
        "        self.legacy.session.delete(obj)\n"  # a sync session: fine
        "        self.other.session.delete(obj)\n"  # unknown: left alone
    )
    found = check_source(service, select=["SQA001"])
    assert [f.line for f in found] == [17, 18]
