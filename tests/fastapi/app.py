"""A small app exercising every piece of ``sqlops.fastapi``, on its own schema.

No ``from __future__ import annotations`` here: FastAPI resolves a route's string
annotations in the module's globals, and ``Tx`` below is local to ``make_app``.
"""

import datetime as dt
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict
from sqlalchemy import ForeignKey, ForeignKeyConstraint, MetaData, String
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

import sqlops
import sqlops.fastapi as sf
from sqlops.models import NAMING_CONVENTION, IntPK, UTCDateTime


class Base(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}


class Team(IntPK, Base):
    __tablename__ = "api_teams"
    name: Mapped[str] = mapped_column(String(30), unique=True)
    people: Mapped[list["Person"]] = relationship(back_populates="team")


class Person(IntPK, Base):
    __tablename__ = "api_people"
    email: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(20))
    age: Mapped[int | None] = mapped_column(default=None)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("api_teams.id"), default=None)
    team: Mapped[Team | None] = relationship(back_populates="people")


class Note(IntPK, Base):
    """A deferred foreign key: checked at COMMIT (PostgreSQL, SQLite), not at INSERT."""

    __tablename__ = "api_notes"
    __table_args__ = (
        ForeignKeyConstraint(
            ["person_id"], ["api_people.id"], deferrable=True, initially="DEFERRED"
        ).ddl_if(dialect=("postgresql", "sqlite")),  # MariaDB has no deferred constraints
    )
    person_id: Mapped[int]


class PersonIn(BaseModel):
    email: str
    name: str
    age: int | None = None
    team_id: int | None = None


class PersonOut(PersonIn):
    model_config = ConfigDict(from_attributes=True)
    id: int


class PageOut(BaseModel):
    items: list[PersonOut]
    total: int
    pages: int


class CursorOut(BaseModel):
    items: list[PersonOut]
    next_cursor: str | None


FILTERS = ["name", "name__ilike", "age__gt", "age__in", "team__name"]


def make_app(db: sqlops.Database) -> FastAPI:
    """The test app; ``db`` is passed in so each test gets its own database."""
    app = FastAPI()
    sf.install_exception_handlers(app)
    Tx = Annotated[AsyncSession, sf.transaction(db)]
    Plain = Annotated[AsyncSession, sf.session(db)]
    Filters = Annotated[dict[str, Any], sf.query_filters(allow=FILTERS)]
    Order = Annotated[Any, sf.ordering(allow=["name", "age", "id"])]

    @app.post("/people", status_code=201)
    async def create(body: PersonIn, session: Tx) -> PersonOut:
        person = await sqlops.Repository(Person, session).create(**body.model_dump())
        return PersonOut.model_validate(person)

    @app.post("/people/unflushed", status_code=201)
    async def create_unflushed(body: PersonIn, session: Tx) -> dict[str, str]:
        session.add(Person(**body.model_dump()))  # flushed by the commit, after we return
        return {"status": "created"}

    @app.post("/people/forbidden")
    async def create_then_forbid(body: PersonIn, session: Tx) -> None:
        await sqlops.Repository(Person, session).create(**body.model_dump())
        raise HTTPException(status_code=403, detail="not allowed")

    @app.post("/people/crash")
    async def create_then_crash(body: PersonIn, session: Tx) -> None:
        await sqlops.Repository(Person, session).create(**body.model_dump())
        raise RuntimeError("boom")

    @app.post("/people/plain", status_code=201)
    async def create_plain(body: PersonIn, session: Plain, commit: bool = True) -> PersonOut:
        person = await sqlops.Repository(Person, session).create(**body.model_dump())
        if commit:
            await session.commit()
        return PersonOut.model_validate(person)

    @app.get("/people/{person_id}")
    async def read(person_id: int, session: Tx) -> PersonOut:
        return PersonOut.model_validate(await sqlops.Repository(Person, session).get_one(person_id))

    @app.patch("/people/{person_id}")
    async def rename(person_id: int, name: str, session: Tx) -> PersonOut:
        person = await sqlops.Repository(Person, session).update(person_id, name=name)
        return PersonOut.model_validate(person)

    @app.get("/people")
    async def listing(
        session: Tx,
        filters: Filters,
        order: Order,
        paging: Annotated[sf.PageParams, sf.page_params(per_page=2, max_per_page=50)],
    ) -> PageOut:
        page = await sqlops.Repository(Person, session).page(
            page=paging.page, per_page=paging.per_page, order_by=order, **filters
        )
        items = [PersonOut.model_validate(p) for p in page.items]
        return PageOut(items=items, total=page.total, pages=page.pages)

    @app.get("/people-cursor")
    async def by_cursor(
        session: Tx,
        filters: Filters,
        cursor: Annotated[sf.CursorParams, sf.cursor_params(limit=2)],
    ) -> CursorOut:
        page = await sqlops.Repository(Person, session).cursor_page(
            after=cursor.after, limit=cursor.limit, order_by="name", **filters
        )
        return CursorOut(
            items=[PersonOut.model_validate(p) for p in page.items], next_cursor=page.next_cursor
        )

    @app.post("/teams", status_code=201)
    async def create_team(name: str, session: Tx) -> dict[str, int]:
        team = await sqlops.Repository(Team, session).create(name=name)
        return {"id": team.id}

    @app.delete("/teams/{team_id}", status_code=204)
    async def delete_team(team_id: int, session: Tx) -> None:
        await sqlops.Repository(Team, session).delete_where(id=team_id)

    @app.post("/notes", status_code=201)
    async def create_note(person_id: int, session: Tx) -> dict[str, int]:
        note = await sqlops.Repository(Note, session).create(person_id=person_id)
        return {"id": note.id}

    return app
