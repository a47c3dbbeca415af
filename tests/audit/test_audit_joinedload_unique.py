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
    "statement handed elsewhere": """
        async def users(db: AsyncSession, paginate):
            stmt = select(User).options(joinedload(User.addresses))
            return await paginate(db, stmt)
    """,
}


@pytest.mark.parametrize("body", GOOD.values(), ids=GOOD.keys())
def test_leaves_correct_code_alone(body: str) -> None:
    assert lines(body) == []


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
