"""SQA010: ``joinedload()`` of a collection without ``.unique()``."""

from __future__ import annotations

from textwrap import dedent

import pytest

from sqlops.audit import check_source

MODELS = """\
from typing import List
from sqlalchemy import ForeignKey, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, joinedload, relationship, selectinload

class User:
    addresses: Mapped[list["Address"]] = relationship(back_populates="user")
    groups: Mapped[List["Group"]] = relationship(secondary="user_groups")
    tags = relationship("Tag", uselist=True)
    profile: Mapped["Profile"] = relationship()

class Address:
    user: Mapped["User"] = relationship(back_populates="addresses")
"""


def lines(body: str) -> list[int]:
    return [f.line for f in check_source(MODELS + dedent(body), select=["SQA010"])]


def marked(body: str) -> list[int]:
    source = (MODELS + dedent(body)).splitlines()
    return [n for n, text in enumerate(source, 1) if text.rstrip().endswith("# !")]


BAD = {
    "untyped session awaited for execute() of a select() (regression: starlette-admin)": """
        async def users(session):
            stmt = select(User).options(joinedload(User.addresses))  # !
            return (await session.execute(stmt)).scalars().all()
    """,
    "module-qualified model (regression: papermerge)": """
        import models as orm
        async def users(db: AsyncSession):
            stmt = select(orm.User).options(joinedload(orm.User.addresses))  # !
            return (await db.scalars(stmt)).all()
    """,
    "options built in a list (issue 13)": """
        async def users(db: AsyncSession, with_addresses):
            opts = []
            opts.append(joinedload(User.addresses))  # !
            stmt = select(User).options(*opts)
            return (await db.scalars(stmt)).all()
    """,
    "chained option on the loader (issue 13)": """
        async def users(db: AsyncSession):
            stmt = select(User).options(joinedload(User.addresses).load_only(Address.id))  # !
            return (await db.scalars(stmt)).all()
    """,
    "query built over several statements (issue 13)": """
        async def users(db: AsyncSession, active):
            query = select(User)
            query = query.options(joinedload(User.groups))  # !
            if active:
                query = query.where(User.active)
            result = await db.execute(query)
            return result.scalars().all()
    """,
    "scalars().all()": """
        async def users(db: AsyncSession):
            stmt = select(User).options(joinedload(User.addresses))  # !
            return (await db.scalars(stmt)).all()
    """,
    "inline execute().scalars().all()": """
        async def users(db: AsyncSession):
            result = await db.execute(select(User).options(joinedload(User.groups)))  # !
            return result.scalars().all()
    """,
    "scalar_one": """
        async def user(db: AsyncSession, pk):
            stmt = select(User).where(User.id == pk).options(joinedload(User.tags))  # !
            return (await db.execute(stmt)).scalar_one()
    """,
    "chained collection": """
        async def addresses(db: AsyncSession):
            stmt = select(Address).options(joinedload(Address.user).joinedload(User.addresses))  # !
            return (await db.scalars(stmt)).all()
    """,
    "executed and listed by a helper function (regression: tracecat paginate)": """
        async def paginate(session: AsyncSession, statement, *, limit):
            query = statement.limit(limit + 1)
            rows = (await session.execute(query)).all()
            return rows[:limit]

        async def users(db: AsyncSession):
            stmt = select(User).options(joinedload(User.addresses))  # !
            return await paginate(db, stmt, limit=10)
    """,
    "a helper with @overload signatures (regression: tracecat paginate)": """
        from typing import overload

        @overload
        async def paginate(session: AsyncSession, statement: int) -> int: ...
        @overload
        async def paginate(session: AsyncSession, statement: str) -> str: ...
        async def paginate(session: AsyncSession, statement):
            return (await session.scalars(statement)).all()

        async def users(db: AsyncSession):
            stmt = select(User).options(joinedload(User.addresses))  # !
            page = await paginate(db, stmt)
            return page
    """,
    "helper method, statement passed by keyword (issue 13)": """
        class Repo:
            def __init__(self, session: AsyncSession):
                self.session = session

            async def _list(self, stmt):
                return (await self.session.scalars(stmt)).all()

            async def users(self):
                q = select(User).options(joinedload(User.groups))  # !
                return await self._list(stmt=q)
    """,
    "options handed to a helper that builds and lists the statement": """
        async def load(db: AsyncSession, options=()):
            stmt = select(User).options(*options)
            return (await db.scalars(stmt)).all()

        async def users(db: AsyncSession):
            return await load(db, options=[joinedload(User.addresses)])  # !
    """,
    "a helper of a helper, defined in any order (regression: tracecat service accounts)": """
        async def users(db: AsyncSession):
            stmt = select(User).options(joinedload(User.addresses))  # !
            return await page_of_users(db, stmt=stmt)

        async def page_of_users(session: AsyncSession, *, stmt):
            return await page_of_rows(session, stmt=stmt, limit=10)

        async def page_of_rows(session: AsyncSession, *, stmt, limit):
            ordered = stmt.order_by(User.id)
            result = await session.execute(ordered.limit(limit))
            return list(result.scalars().all())
    """,
    "fetchone() applies the uniquing filter (checked on SQLAlchemy 2)": """
        async def user(db: AsyncSession):
            stmt = select(User).options(joinedload(User.addresses))  # !
            return (await db.execute(stmt)).fetchone()
    """,
    "scalar_one_or_none()": """
        async def user(db: AsyncSession, pk):
            stmt = select(User).where(User.id == pk).options(joinedload(User.addresses))  # !
            return (await db.execute(stmt)).scalar_one_or_none()
    """,
    "iterated": """
        async def names(db: AsyncSession):
            stmt = select(User).options(joinedload(User.addresses))  # !
            return [u.name for u in await db.scalars(stmt)]
    """,
}


@pytest.mark.parametrize("body", BAD.values(), ids=BAD.keys())
def test_flags_joined_collection_without_unique(body: str) -> None:
    assert lines(body) == marked(body)


GOOD = {
    "options list with selectinload": """
        async def users(db: AsyncSession):
            opts = [selectinload(User.addresses)]
            return (await db.scalars(select(User).options(*opts))).all()
    """,
    "options list, unique() called": """
        async def users(db: AsyncSession):
            opts = []
            opts.append(joinedload(User.addresses))
            return (await db.scalars(select(User).options(*opts))).unique().all()
    """,
    "list built but another statement executed": """
        async def users(db: AsyncSession):
            opts = [joinedload(User.addresses)]
            unused = select(User).options(*opts)
            return (await db.scalars(select(User))).all()
    """,
    "unique()": """
        async def users(db: AsyncSession):
            stmt = select(User).options(joinedload(User.addresses))
            return (await db.scalars(stmt)).unique().all()
    """,
    "many-to-one": """
        async def addresses(db: AsyncSession):
            stmt = select(Address).options(joinedload(Address.user))
            return (await db.scalars(stmt)).all()
    """,
    "scalar-valued relationship": """
        async def users(db: AsyncSession):
            stmt = select(User).options(joinedload(User.profile))
            return (await db.scalars(stmt)).all()
    """,
    "selectinload": """
        async def users(db: AsyncSession):
            stmt = select(User).options(selectinload(User.addresses))
            return (await db.scalars(stmt)).all()
    """,
    "session.get() uniquifies": """
        async def user(db: AsyncSession, pk):
            return await db.get(User, pk, options=[joinedload(User.addresses)])
    """,
    "session.scalar() and first() are fine": """
        async def user(db: AsyncSession, pk):
            stmt = select(User).options(joinedload(User.addresses))
            one = await db.scalar(stmt)
            two = (await db.scalars(stmt)).first()
            return one, two
    """,
    "helper that calls unique()": """
        async def paginate(session: AsyncSession, statement):
            return (await session.scalars(statement)).unique().all()

        async def users(db: AsyncSession):
            stmt = select(User).options(joinedload(User.addresses))
            return await paginate(db, stmt)
    """,
    "helper reading one row with scalar() (regression: tracecat adapters)": """
        class Adapter:
            async def _row(self, session: AsyncSession, *, options=()):
                stmt = select(User).options(*options)
                return await session.scalar(stmt)

            async def plan(self, session: AsyncSession, ids):
                rows = [await self._row(session, options=(joinedload(User.addresses),))]
                return [r for r in rows if r]
    """,
    "options handed to an awaited call whose result is listed (regression: tracecat)": """
        class Adapter:
            async def plan(self, session: AsyncSession, *, options=()):
                return await session.scalar(select(User).options(*options))

            async def load(self, session: AsyncSession):
                swap = await self.plan(session, options=(joinedload(User.addresses),))
                rows = (await session.scalars(select(User).where(User.id == swap.id))).all()
                return rows
    """,
    "helper lists another parameter, not the statement": """
        async def run(session: AsyncSession, statement, fallback):
            await session.execute(statement)
            return (await session.scalars(fallback)).all()

        async def users(db: AsyncSession):
            stmt = select(User).options(joinedload(User.addresses))
            return await run(db, stmt, select(User))
    """,
    "two helpers of the same name, one uniquing: unknown": """
        async def fetch(session: AsyncSession, statement):
            return (await session.scalars(statement)).all()

        class Other:
            async def fetch(self, session: AsyncSession, statement):
                return (await session.scalars(statement)).unique().all()

            async def users(self, db: AsyncSession):
                stmt = select(User).options(joinedload(User.addresses))
                return await self.fetch(db, stmt)
    """,
    "first() on the result of a statement also listed elsewhere (regression: papermerge)": """
        async def user(db: AsyncSession, pk):
            stmt = select(User).options(joinedload(User.addresses))
            result = await db.execute(stmt)
            found = result.scalars().first()
            others = (await db.scalars(select(User))).all()
            return found, others
    """,
    "statement handed elsewhere": """
        async def users(db: AsyncSession, paginate):
            stmt = select(User).options(joinedload(User.addresses))
            return await paginate(db, stmt)
    """,
}


@pytest.mark.parametrize("body", GOOD.values(), ids=GOOD.keys())
def test_leaves_correct_code_alone(body: str) -> None:
    assert lines(body) == []


def test_helpers_are_learnt_across_files(tmp_path: object) -> None:
    from pathlib import Path

    from sqlops.audit import check_paths

    root = Path(str(tmp_path))
    (root / "models.py").write_text(
        "from sqlalchemy.orm import Mapped, relationship\n"
        "class Team:\n"
        "    members: Mapped[list['Member']] = relationship()\n"
    )
    (root / "pagination.py").write_text(
        "from sqlalchemy.ext.asyncio import AsyncSession\n"
        "async def paginate[T](session: AsyncSession, statement, *, size: int):\n"
        "    result = await session.execute(statement.limit(size))\n"
        "    return list(result.scalars())\n"
    )
    (root / "queries.py").write_text(
        "from sqlalchemy import select\n"
        "from sqlalchemy.ext.asyncio import AsyncSession\n"
        "from sqlalchemy.orm import joinedload\n"
        "from models import Team\n"
        "from pagination import paginate\n"
        "async def teams(db: AsyncSession):\n"
        "    stmt = select(Team).options(joinedload(Team.members))\n"
        "    return await paginate(db, stmt, size=20)\n"
    )
    found = check_paths([root], select=["SQA010"])
    assert [(Path(f.path).name, f.line) for f in found] == [("queries.py", 7)]


def test_collections_are_learnt_across_files(tmp_path: object) -> None:
    from pathlib import Path

    from sqlops.audit import check_paths

    root = Path(str(tmp_path))
    (root / "models.py").write_text(
        "from sqlalchemy.orm import Mapped, relationship\n"
        "class Team:\n"
        "    members: Mapped[list['Member']] = relationship()\n"
    )
    (root / "queries.py").write_text(
        "from sqlalchemy import select\n"
        "from sqlalchemy.ext.asyncio import AsyncSession\n"
        "from sqlalchemy.orm import joinedload\n"
        "from models import Team\n"
        "async def teams(db: AsyncSession):\n"
        "    stmt = select(Team).options(joinedload(Team.members))\n"
        "    return (await db.scalars(stmt)).all()\n"
    )
    found = check_paths([root], select=["SQA010"])
    assert [(Path(f.path).name, f.line) for f in found] == [("queries.py", 6)]


def test_a_helper_name_defined_twice_across_files_is_unknown(tmp_path: object) -> None:
    from pathlib import Path

    from sqlops.audit import check_paths

    root = Path(str(tmp_path))
    (root / "models.py").write_text(
        "from sqlalchemy.orm import Mapped, relationship\n"
        "class Team:\n"
        "    members: Mapped[list['Member']] = relationship()\n"
    )
    (root / "pagination.py").write_text(
        "from sqlalchemy.ext.asyncio import AsyncSession\n"
        "async def paginate(session: AsyncSession, statement):\n"
        "    return (await session.scalars(statement)).all()\n"
    )
    (root / "other.py").write_text("def paginate(items, size):\n    return items[:size]\n")
    (root / "queries.py").write_text(
        "from sqlalchemy import select\n"
        "from sqlalchemy.ext.asyncio import AsyncSession\n"
        "from sqlalchemy.orm import joinedload\n"
        "from models import Team\n"
        "from pagination import paginate\n"
        "async def teams(db: AsyncSession):\n"
        "    stmt = select(Team).options(joinedload(Team.members))\n"
        "    return await paginate(db, stmt)\n"
    )
    assert check_paths([root], select=["SQA010"]) == []
    (root / "other.py").unlink()
    assert [f.line for f in check_paths([root], select=["SQA010"])] == [7]
