"""A ``read`` schema that nests a relationship is eager-loaded, never lazily (no 500, no N+1)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import ForeignKey, String, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

import sqlops
import sqlops.fastapi as sf


class Base(DeclarativeBase):
    pass


class Shelf(Base):
    __tablename__ = "fw_shelves"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(40))
    books: Mapped[list[Book]] = relationship(order_by="Book.id")


class Book(Base):
    __tablename__ = "fw_books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(40))
    shelf_id: Mapped[int] = mapped_column(ForeignKey("fw_shelves.id"))


class BookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    title: str


class ShelfOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    label: str
    books: list[BookOut]


@pytest.fixture
async def shelves(fw_db: sqlops.Database) -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    await fw_db.drop_all(Base.metadata)
    await fw_db.create_all(Base.metadata)
    for n in range(3):
        shelf = await sqlops.Repository(Shelf, fw_db).create(label=f"s{n}")
        await sqlops.Repository(Book, fw_db).create_many(
            [{"title": f"b{n}.{i}", "shelf_id": shelf.id} for i in range(2)]
        )
    app = FastAPI()
    sf.install_exception_handlers(app)
    app.include_router(sf.crud_router(Shelf, read=ShelfOut, db=fw_db))
    statements: list[str] = []
    event.listen(
        fw_db.engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2])
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, statements
    finally:
        await fw_db.drop_all(Base.metadata)


async def test_list_and_get_nest_the_relationship(
    shelves: tuple[httpx.AsyncClient, list[str]],
) -> None:
    client, statements = shelves
    listed = await client.get("/fw_shelves", params={"per_page": 10})
    assert listed.status_code == 200, listed.text
    assert [s["books"] for s in listed.json()["items"]][1] == [
        {"title": "b1.0"},
        {"title": "b1.1"},
    ]
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 2  # the page, then one IN query for every shelf's books
    one = await client.get("/fw_shelves/1")
    assert one.json() == {"id": 1, "label": "s0", "books": [{"title": "b0.0"}, {"title": "b0.1"}]}
