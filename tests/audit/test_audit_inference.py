"""How the audit decides that a name is an AsyncSession (and when it refuses to)."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from sqlops.audit import check_paths, check_source

IMPORTS = "from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker\n"


def flagged(body: str) -> bool:
    """Tell whether a bare ``<session>.delete(x)`` marked ``# !`` is reported as SQA001."""
    source = IMPORTS + dedent(body)
    found = check_source(source, select=["SQA001"])
    return bool(found)


ASYNC = {
    "narrowed by isinstance() (regression: starlette-admin)": """
        async def rows(session, stmt, x):
            if isinstance(session, AsyncSession):
                session.delete(x)
    """,
    "untyped, but awaited for flush() in the same function (issue 13)": """
        async def save(session, obj, other):
            session.add(obj)
            await session.flush()
            session.delete(other)
    """,
    "annotated sync Session, but awaited (code beats annotation)": """
        from sqlalchemy.orm import Session
        async def save(session: Session, obj, stmt):
            await session.execute(stmt)
            session.delete(obj)
    """,
    "Optional annotation": """
        from typing import Optional
        async def f(db: Optional[AsyncSession], x):
            db.delete(x)
    """,
    "string annotation": """
        async def f(db: "AsyncSession | None", x):
            db.delete(x)
    """,
    "Annotated alias (SessionDep)": """
        from typing import Annotated
        from fastapi import Depends
        SessionDep = Annotated[AsyncSession, Depends(object)]
        async def f(db: SessionDep, x):
            db.delete(x)
    """,
    "NewType alias": """
        from typing import NewType
        ReadSession = NewType("ReadSession", AsyncSession)
        async def f(db: ReadSession, x):
            db.delete(x)
    """,
    "subclass of AsyncSession": """
        class TenantSession(AsyncSession):
            pass
        async def f(db: TenantSession, x):
            db.delete(x)
    """,
    "annotated provider": """
        from collections.abc import AsyncIterator
        from fastapi import Depends
        async def get_db() -> AsyncIterator[AsyncSession]:
            ...
        async def f(x, db=Depends(get_db)):
            db.delete(x)
    """,
    "Annotated[..., Depends()] on the parameter": """
        from typing import Annotated
        from fastapi import Depends
        async def f(x, db: Annotated[AsyncSession, Depends(object)]):
            db.delete(x)
    """,
    "asynccontextmanager provider": """
        from contextlib import asynccontextmanager
        Session = async_sessionmaker(expire_on_commit=False)
        @asynccontextmanager
        async def session_scope():
            async with Session() as s:
                yield s
        async def f(x):
            async with session_scope() as db:
                db.delete(x)
    """,
    "provider method on a manager class": """
        from contextlib import asynccontextmanager
        from collections.abc import AsyncIterator
        class Manager:
            @asynccontextmanager
            async def session(self) -> AsyncIterator[AsyncSession]:
                yield self._s
        manager = Manager()
        async def f(x):
            async with manager.session() as db:
                db.delete(x)
    """,
    "attribute from a base class": """
        class Base:
            def __init__(self, session: AsyncSession) -> None:
                self.session = session
        class Users(Base):
            async def drop(self, x):
                self.session.delete(x)
    """,
    "class-level annotation (dataclass)": """
        from dataclasses import dataclass
        @dataclass
        class Repo:
            db: AsyncSession
            async def drop(self, x):
                self.db.delete(x)
    """,
    "property returning AsyncSession": """
        class Repo:
            @property
            def db(self) -> AsyncSession:
                return self._db
            async def drop(self, x):
                self.db.delete(x)
    """,
    "closure inside an async def": """
        async def f(db: AsyncSession, items):
            def drop_all():
                for x in items:
                    db.delete(x)
            drop_all()
    """,
    "pytest fixture injected by name": """
        import pytest
        @pytest.fixture
        async def session() -> AsyncSession:
            ...
        async def test_drop(session, x):
            session.delete(x)
    """,
    "factory.begin() yields a session": """
        Session = async_sessionmaker(expire_on_commit=False)
        async def f(x):
            async with Session.begin() as db:
                db.delete(x)
    """,
    "sqlops Database.transaction()": """
        from sqlops import Database
        async def f(db: Database, x):
            async with db.transaction() as s:
                s.delete(x)
    """,
    "async_scoped_session proxy": """
        from sqlalchemy.ext.asyncio import async_scoped_session
        async def f(db: async_scoped_session[AsyncSession], x):
            db.delete(x)
    """,
}


@pytest.mark.parametrize("body", ASYNC.values(), ids=ASYNC.keys())
def test_recognises_async_sessions(body: str) -> None:
    assert flagged(body)


UNKNOWN = {
    "the other branch of an isinstance() test": """
        async def rows(session, stmt, x):
            if isinstance(session, AsyncSession):
                pass
            else:
                session.delete(x)
    """,
    "untyped, awaited only for methods other libraries have too": """
        async def save(conn, x):
            await conn.execute("INSERT ...")
            await conn.commit()  # aiosqlite, psycopg and asyncpg look like this
            conn.delete(x)
    """,
    "aiohttp session awaited for get()": """
        async def fetch(session, url):
            await session.get(url)
            session.delete(url)
    """,
    "awaited for flush() in another function only": """
        async def save(session):
            await session.flush()
        async def drop(session, x):
            session.delete(x)
    """,
    "no annotation": """
        async def f(db, x):
            db.delete(x)
    """,
    "conflicting assignments": """
        from sqlalchemy.orm import Session
        async def f(engine, x, flag):
            db = AsyncSession(engine, expire_on_commit=False)
            if flag:
                db = Session(engine)
            db.delete(x)
    """,
    "fixture name used outside tests": """
        import pytest
        @pytest.fixture
        async def session() -> AsyncSession:
            ...
        async def handler(session, x):
            session.delete(x)
    """,
    "attribute of an unknown object": """
        async def f(request, x):
            request.state.db.delete(x)
    """,
    "a provider name that also has an unknown definition": """
        from fastapi import Depends
        async def get_db() -> AsyncSession:
            ...
        class Other:
            pass
        def get_db():  # redefined: nobody can tell which one Depends() sees
            return Other()
        async def f(x, db=Depends(get_db)):
            db.delete(x)
    """,
}


@pytest.mark.parametrize("body", UNKNOWN.values(), ids=UNKNOWN.keys())
def test_stays_quiet_when_unsure(body: str) -> None:
    assert not flagged(body)


def test_facts_cross_files(tmp_path: Path) -> None:
    (tmp_path / "db.py").write_text(
        IMPORTS + "SessionLocal = async_sessionmaker(expire_on_commit=False)\n"
        "async def get_db():\n"
        "    async with SessionLocal() as session:\n"
        "        yield session\n"
    )
    (tmp_path / "routes.py").write_text(
        "from fastapi import Depends\n"
        "from db import get_db\n"
        "async def remove(item, db=Depends(get_db)):\n"
        "    db.delete(item)\n"
    )
    found = check_paths([tmp_path])
    assert [(Path(f.path).name, f.line, f.code) for f in found] == [("routes.py", 4, "SQA001")]


def test_same_function_name_with_different_kinds_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        IMPORTS + "async def get_session() -> AsyncSession:\n    ...\n"
        "async def f(x):\n    db = await get_session()\n    db.delete(x)\n"
    )
    assert [f.code for f in check_paths([tmp_path])] == ["SQA001"]
    (tmp_path / "b.py").write_text(
        "from sqlalchemy.orm import Session\ndef get_session() -> Session:\n    ...\n"
    )
    assert check_paths([tmp_path]) == []


def test_a_factory_built_by_a_provider_in_another_file(tmp_path: Path) -> None:
    """A factory from a provider's return value (regression: fastapi_best_architecture)."""
    (tmp_path / "db.py").write_text(
        dedent(
            """\
            from typing import Any
            from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
            def create_session_maker(engine) -> async_sessionmaker[AsyncSession | Any]:
                return async_sessionmaker(bind=engine, expire_on_commit=False)
            async_db_session = create_session_maker(object())
            """
        )
    )
    (tmp_path / "jobs.py").write_text(
        dedent(
            """\
            from db import async_db_session
            async def disable(task):
                async with async_db_session.begin() as db:
                    db.delete(task)
            """
        )
    )
    assert [f.line for f in check_paths([tmp_path], select=["SQA001"])] == [4]


USED_AS_SESSION = {
    "awaited execute() of a select() (regression: letta)": """
        from sqlalchemy import select
        async def names(session, Tool, obj):
            stmt = select(Tool.id)
            result = await session.execute(stmt)
            session.delete(obj)  # !
    """,
    "awaited execute() and a session-only plain method": """
        async def save(session, obj, query):
            session.add(obj)
            await session.execute(query)
            session.commit()  # !
    """,
}


@pytest.mark.parametrize("body", USED_AS_SESSION.values(), ids=USED_AS_SESSION.keys())
def test_untyped_names_used_as_sessions_are_checked_for_sqa001(body: str) -> None:
    assert flagged(body)


def test_usage_evidence_is_not_enough_for_concurrency_rules() -> None:
    body = """
        import asyncio
        from sqlalchemy import select
        async def both(database, A, B):
            await database.execute(select(A))
            one, two = database.fetch_all(select(A)), database.fetch_all(select(B))
            return await asyncio.gather(one, two)
    """
    assert check_source(IMPORTS + dedent(body), select=["SQA008"]) == []


def test_evidence_does_not_cross_a_sync_binding_of_the_same_name() -> None:
    """Regression: starlette-admin tests bind ``s`` to an AsyncSession and a Session."""
    body = """
        from sqlalchemy.orm import Session
        async def count(engine, is_async, stmt):
            if is_async:
                async with AsyncSession(engine) as s:
                    return (await s.scalars(stmt)).first()
            with Session(engine) as s:
                s.commit()
                return s.execute(stmt).scalar_one()
    """
    assert check_source(IMPORTS + dedent(body), select=["SQA001"]) == []
