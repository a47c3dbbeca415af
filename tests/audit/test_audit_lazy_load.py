"""SQA014: lazy relationship reads in async code (``MissingGreenlet``)."""

from __future__ import annotations

from textwrap import dedent

import pytest

from sqlops.audit import check_paths, check_source

MODELS = """\
from sqlalchemy import ForeignKey, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, joinedload, relationship, selectinload, raiseload

class User:
    addresses: Mapped[list["Address"]] = relationship(back_populates="user")
    team: Mapped["Team"] = relationship(lazy="selectin")
    posts = relationship("Post", lazy="raise")
    name: Mapped[str]

class Address:
    user: Mapped["User"] = relationship(back_populates="addresses")
"""


def lines(body: str, models: str = MODELS) -> list[int]:
    return [f.line for f in check_source(models + dedent(body), select=["SQA014"])]


def marked(body: str, models: str = MODELS) -> list[int]:
    source = (models + dedent(body)).splitlines()
    return [n for n, text in enumerate(source, 1) if text.rstrip().endswith("# !")]


BAD = {
    "get() then a collection": """
        async def emails(db: AsyncSession, pk):
            user = await db.get(User, pk)
            return [a.email for a in user.addresses]  # !
    """,
    "scalars().first() then a collection": """
        async def emails(db: AsyncSession, pk):
            user = (await db.scalars(select(User).where(User.id == pk))).first()
            return user.addresses  # !
    """,
    "execute() then scalar_one_or_none()": """
        async def emails(db: AsyncSession, pk):
            result = await db.execute(select(User).where(User.id == pk))
            user = result.scalar_one_or_none()
            return user.addresses  # !
    """,
    "iterating a result": """
        async def report(db: AsyncSession):
            for user in (await db.scalars(select(User))).all():
                print(len(user.addresses))  # !
    """,
    "the statement loads another relationship (eager load moved away)": """
        async def report(db: AsyncSession):
            stmt = select(User).options(selectinload(User.other))
            for user in await db.scalars(stmt):
                print(user.addresses)  # !
    """,
    "the same name loaded again, lazily this time": """
        async def check(db: AsyncSession, pk):
            user = await db.get(User, pk, options=[selectinload(User.addresses)])
            first = len(user.addresses)
            user = await db.get(User, pk, populate_existing=True)
            return first == len(user.addresses)  # !
    """,
    "untyped session awaited for execute() of a select() (regression: starlette-admin)": """
        async def check(session):
            result = await session.execute(select(User).where(User.name == "Doe"))
            user = result.scalar_one()
            assert user.addresses == []  # !
    """,
    "module-qualified model, extra columns, row[0] (regression: papermerge)": """
        import models as orm
        async def role(db: AsyncSession, pk, creator):
            stmt = select(orm.User, creator.name.label("by")).where(orm.User.id == pk)
            row = (await db.execute(stmt)).one()
            user = row[0]
            return sorted(a.email for a in user.addresses)  # !
    """,
    "loaded in a try whose handlers leave (regression: papermerge)": """
        async def emails(db: AsyncSession, pk):
            try:
                user = (await db.scalars(select(User).where(User.id == pk))).one()
            except LookupError:
                return None
            return [a.email for a in user.addresses]  # !
    """,
    "statement refined in branches and loops (regression: tracecat)": """
        async def emails(db: AsyncSession, filters, sort):
            stmt = select(User).options(selectinload(User.other))
            if sort:
                stmt = stmt.order_by(User.name)
            for clause in filters:
                stmt = stmt.where(clause)
            return [u.addresses for u in (await db.scalars(stmt)).all()]  # !
    """,
    "statement built over several statements": """
        async def report(db: AsyncSession, active):
            stmt = select(User)
            stmt = stmt.where(User.name == "x")
            users = (await db.scalars(stmt)).all()
            for user in users:
                user.addresses.append(None)  # !
    """,
}


@pytest.mark.parametrize("body", BAD.values(), ids=BAD.keys())
def test_flags_lazy_loads(body: str) -> None:
    assert lines(body) == marked(body)


GOOD = {
    "a many-to-one may come from the identity map (regression: papermerge tests)": """
        async def owner(db: AsyncSession, pk):
            address = (await db.scalars(select(Address).where(Address.id == pk))).first()
            return address.user
    """,
    "selectinload on the statement": """
        async def emails(db: AsyncSession):
            stmt = select(User).options(selectinload(User.addresses))
            return [a for u in await db.scalars(stmt) for a in u.addresses]
    """,
    "joinedload on get()": """
        async def emails(db: AsyncSession, pk):
            user = await db.get(User, pk, options=[joinedload(User.addresses)])
            return user.addresses
    """,
    "eager by declaration (lazy='selectin')": """
        async def team(db: AsyncSession, pk):
            user = await db.get(User, pk)
            return user.team
    """,
    "lazy='raise' fails loudly on purpose": """
        async def posts(db: AsyncSession, pk):
            user = await db.get(User, pk)
            return user.posts
    """,
    "awaitable_attrs": """
        async def emails(db: AsyncSession, pk):
            user = await db.get(User, pk)
            return await user.awaitable_attrs.addresses
    """,
    "refreshed with the relationship": """
        async def emails(db: AsyncSession, pk):
            user = await db.get(User, pk)
            await db.refresh(user, ["addresses"])
            return user.addresses
    """,
    "a column, not a relationship": """
        async def name(db: AsyncSession, pk):
            user = await db.get(User, pk)
            return user.name
    """,
    "options the audit cannot read": """
        async def emails(db: AsyncSession, opts):
            users = (await db.scalars(select(User).options(*opts))).all()
            return [u.addresses for u in users]
    """,
    "wildcard loader": """
        async def emails(db: AsyncSession):
            stmt = select(User).options(selectinload("*"))
            return [u.addresses for u in await db.scalars(stmt)]
    """,
    "row[1] is not the model": """
        async def role(db: AsyncSession, pk, creator):
            row = (await db.execute(select(User, creator).where(User.id == pk))).one()
            other = row[1]
            return other.addresses
    """,
    "rows from execute() are not objects": """
        async def emails(db: AsyncSession):
            for row in await db.execute(select(User)):
                print(row.addresses)
    """,
    "inside run_sync": """
        async def emails(db: AsyncSession, pk):
            user = await db.get(User, pk)
            return await db.run_sync(lambda s: user.addresses)
    """,
    "sync session: lazy loads work": """
        from sqlalchemy.orm import Session
        def emails(db: Session, pk):
            user = db.get(User, pk)
            return user.addresses
    """,
    "unknown receiver awaited for get(): a repository may load eagerly": """
        async def emails(repo, pk):
            user = await repo.get(User, pk)
            return user.addresses
    """,
    "unknown session": """
        async def emails(db, pk):
            user = await db.get(User, pk)
            return user.addresses
    """,
    "the same name loaded again, eagerly (regression: sqladmin tests)": """
        async def check(db: AsyncSession):
            result = await db.execute(select(User).options(selectinload(User.addresses)))
            user = result.scalar_one()
            assert len(user.addresses) == 1
            result = await db.execute(select(User).options(selectinload(User.addresses)))
            user = result.scalar_one()
            assert len(user.addresses) == 2
    """,
    "loaded in a try whose handler falls through": """
        async def emails(db: AsyncSession, pk, fallback):
            try:
                user = (await db.scalars(select(User).where(User.id == pk))).one()
            except LookupError:
                user = fallback
            return user.addresses
    """,
    "an option added in a branch counts as loaded": """
        async def emails(db: AsyncSession, full):
            stmt = select(User)
            if full:
                stmt = stmt.options(selectinload(User.addresses))
            return [u.addresses for u in (await db.scalars(stmt)).all()]
    """,
    "a name bound twice is not proven": """
        async def emails(db: AsyncSession, pk, other):
            user = await db.get(User, pk)
            if other:
                user = other
            return user.addresses
    """,
}


@pytest.mark.parametrize("body", GOOD.values(), ids=GOOD.keys())
def test_leaves_proven_loads_alone(body: str) -> None:
    assert lines(body) == []


def test_sqlmodel_relationship_kwargs() -> None:
    models = dedent(
        """\
        from sqlmodel import Relationship, SQLModel, select
        from sqlalchemy.ext.asyncio import AsyncSession
        class Team(SQLModel, table=True):
            heroes: list["Hero"] = Relationship(back_populates="team")
            admins: list["Hero"] = Relationship(sa_relationship_kwargs={"lazy": "selectin"})
        """
    )
    body = """
        async def heroes(db: AsyncSession, pk):
            team = await db.get(Team, pk)
            print(team.admins)
            return team.heroes  # !
    """
    assert lines(body, models) == marked(body, models)


def test_models_from_another_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "models.py").write_text(MODELS)
    (tmp_path / "routes.py").write_text(
        dedent(
            """\
            from sqlalchemy.ext.asyncio import AsyncSession
            from models import User
            async def emails(db: AsyncSession, pk):
                user = await db.get(User, pk)
                return user.addresses
            """
        )
    )
    found = check_paths([tmp_path], select=["SQA014"])
    assert [(f.path.rsplit("/", 1)[-1], f.line) for f in found] == [("routes.py", 5)]
