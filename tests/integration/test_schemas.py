"""Schemas in and out: Pydantic v2 models, dataclasses and mappings at the repository's edge.

Every read with ``schema=`` must select only the columns the schema names and eager-load
what it nests — the statement counts and texts are asserted, on three model styles (sqlops
``Base``, a plain ``DeclarativeBase`` with no naming convention, ``MappedAsDataclass``) and
on every backend.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pydantic
import pytest
from sqlalchemy import ForeignKey, String
from sqlalchemy.engine import URL
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedAsDataclass, mapped_column, relationship
from sqlmodel import Field, SQLModel

import sqlops
from sqlops.models import Base, IntPK

# ----------------------------------------------------------------------------- models


class SqAuthor(IntPK, Base):
    __tablename__ = "sch_authors"
    name: Mapped[str] = mapped_column(String(50))
    bio: Mapped[str] = mapped_column(String(200), default="")
    books: Mapped[list[SqBook]] = relationship(back_populates="author", order_by="SqBook.id")


class SqBook(IntPK, Base):
    __tablename__ = "sch_books"
    title: Mapped[str] = mapped_column(String(100))
    blurb: Mapped[str] = mapped_column(String(200), default="")
    author_id: Mapped[int] = mapped_column(ForeignKey("sch_authors.id"))
    author: Mapped[SqAuthor] = relationship(back_populates="books")


class Plain(DeclarativeBase):
    pass


class PlainAuthor(Plain):
    __tablename__ = "sch_plain_authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    bio: Mapped[str] = mapped_column(String(200), default="")
    books: Mapped[list[PlainBook]] = relationship(back_populates="author", order_by="PlainBook.id")


class PlainBook(Plain):
    __tablename__ = "sch_plain_books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    blurb: Mapped[str] = mapped_column(String(200), default="")
    author_id: Mapped[int] = mapped_column(ForeignKey("sch_plain_authors.id"))
    author: Mapped[PlainAuthor] = relationship(back_populates="books")


class Dataclassy(MappedAsDataclass, DeclarativeBase):
    pass


class DcAuthor(Dataclassy):
    __tablename__ = "sch_dc_authors"
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    name: Mapped[str] = mapped_column(String(50))
    bio: Mapped[str] = mapped_column(String(200), default="")
    books: Mapped[list[DcBook]] = relationship(
        back_populates="author", order_by="DcBook.id", default_factory=list
    )


class DcBook(Dataclassy):
    __tablename__ = "sch_dc_books"
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    title: Mapped[str] = mapped_column(String(100))
    author_id: Mapped[int] = mapped_column(ForeignKey("sch_dc_authors.id"))
    blurb: Mapped[str] = mapped_column(String(200), default="")
    author: Mapped[DcAuthor] = relationship(back_populates="books", init=False)


STYLES = {
    "sqlops": (SqAuthor, SqBook),
    "plain": (PlainAuthor, PlainBook),
    "dataclass": (DcAuthor, DcBook),
}

# ----------------------------------------------------------------------------- schemas


class AuthorIn(pydantic.BaseModel):
    name: str
    bio: str = "default bio"


class AuthorPatch(pydantic.BaseModel):
    name: str | None = None
    bio: str | None = None


@dataclasses.dataclass
class AuthorRow:
    name: str
    bio: str


class BookOut(pydantic.BaseModel):
    title: str


class AuthorOut(pydantic.BaseModel):
    id: int
    name: str
    books: list[BookOut]


class AuthorName(pydantic.BaseModel):
    name: str


class BookWithAuthor(pydantic.BaseModel):
    title: str
    author: AuthorName


@dataclasses.dataclass
class BookCard:
    title: str


@dataclasses.dataclass
class AuthorCard:
    name: str
    books: list[BookCard]


# ----------------------------------------------------------------------------- fixtures


@dataclasses.dataclass
class Library:
    db: sqlops.Database
    authors: sqlops.Repository[Any]
    books: sqlops.Repository[Any]
    Author: type[Any]
    Book: type[Any]


@pytest.fixture(params=sorted(STYLES))
async def lib(request: pytest.FixtureRequest, url: URL | str) -> AsyncIterator[Library]:
    author, book = STYLES[request.param]
    async with sqlops.Database(url) as db:
        await db.drop_all(author.metadata)
        await db.create_all(author.metadata)
        try:
            yield Library(
                db, sqlops.Repository(author, db), sqlops.Repository(book, db), author, book
            )
        finally:
            await db.drop_all(author.metadata)


async def _seed(lib: Library, authors: int = 4, books: int = 3) -> list[Any]:
    made = []
    for a in range(authors):
        author = await lib.authors.create(name=f"a{a}", bio=f"bio {a}")
        await lib.books.create_many(
            {"title": f"a{a}-b{b}", "author_id": author.id} for b in range(books)
        )
        made.append(author)
    return made


def _selects(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]


# ----------------------------------------------------------------------------- in


async def test_create_from_pydantic_dataclass_and_mapping(lib: Library) -> None:
    first = await lib.authors.create(AuthorIn(name="p"))
    second = await lib.authors.create(AuthorRow(name="d", bio="dc"))
    third = await lib.authors.create({"name": "m", "bio": "map"})
    rows = {a.name: a.bio for a in await lib.authors.list()}
    assert rows == {"p": "default bio", "d": "dc", "m": "map"}
    assert {first.name, second.name, third.name} == {"p", "d", "m"}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # refused before SQL
async def test_create_with_a_field_the_model_lacks_names_it(lib: Library) -> None:
    class Extra(pydantic.BaseModel):
        name: str
        shoe_size: int

    with pytest.raises(sqlops.InvalidValueError, match="shoe_size"):
        await lib.authors.create(Extra(name="x", shoe_size=44))


async def test_update_writes_only_the_fields_that_were_set(lib: Library) -> None:
    author = await lib.authors.create(name="a", bio="kept")
    updated = await lib.authors.update(author.id, AuthorPatch(name="b"))
    assert (updated.name, updated.bio) == ("b", "kept")
    updated = await lib.authors.update(author.id, AuthorPatch(bio="new"))
    assert (updated.name, updated.bio) == ("b", "new")
    with pytest.raises(sqlops.NotNullViolation):  # set to None on purpose: written
        await lib.authors.update(author.id, AuthorPatch(bio=None))


async def test_update_from_a_dataclass_writes_every_field(lib: Library) -> None:
    author = await lib.authors.create(name="a", bio="old")
    updated = await lib.authors.update(author.id, AuthorRow(name="b", bio="new"))
    assert (updated.name, updated.bio) == ("b", "new")


async def test_upsert_from_a_schema(lib: Library) -> None:
    author = await lib.authors.create(name="a", bio="old")

    class Full(pydantic.BaseModel):
        id: int
        name: str
        bio: str

    row = await lib.authors.upsert(Full(id=author.id, name="a2", bio="new"))
    assert (row.name, row.bio) == ("a2", "new")
    assert await lib.authors.count() == 1


# ----------------------------------------------------------------------------- out


async def test_list_loads_only_the_schema_columns_and_nests_in_one_query_per_level(
    lib: Library, assert_max_queries: Any
) -> None:
    await _seed(lib, authors=5)
    with assert_max_queries(2) as q:
        out = await lib.authors.list(schema=AuthorOut)
    assert [type(o) for o in out] == [AuthorOut] * 5
    assert [o.name for o in out] == [f"a{i}" for i in range(5)]
    assert [b.title for b in out[1].books] == ["a1-b0", "a1-b1", "a1-b2"]
    parent, child = _selects(q.statements)
    assert "bio" not in parent and "name" in parent
    assert "blurb" not in child and "title" in child


async def test_many_to_one_nesting(lib: Library, assert_max_queries: Any) -> None:
    await _seed(lib, authors=3, books=2)
    with assert_max_queries(2):
        out = await lib.books.list(schema=BookWithAuthor, order_by="id")
    assert [(b.title, b.author.name) for b in out][:3] == [
        ("a0-b0", "a0"), ("a0-b1", "a0"), ("a1-b0", "a1"),
    ]  # fmt: skip


async def test_every_read_method_returns_the_schema(lib: Library, count_queries: Any) -> None:
    authors = await _seed(lib, authors=3)
    pk = authors[1].id
    repo = lib.authors
    with count_queries() as q:
        got = await repo.get(pk, schema=AuthorOut)
        one = await repo.get_one(pk, schema=AuthorOut)
        first = await repo.first(name="a2", schema=AuthorOut)
        only = await repo.one(name="a0", schema=AuthorOut)
        page = await repo.page(per_page=2, page=2, schema=AuthorOut)
        cursor = await repo.cursor_page(limit=2, order_by="-name", schema=AuthorName)
        streamed = [a async for a in repo.stream(schema=AuthorOut, batch_size=2)]
    assert isinstance(got, AuthorOut) and got.name == "a1" and len(got.books) == 3
    assert one == got
    assert first is not None and first.name == "a2"
    assert only.name == "a0"
    assert (page.total, [a.name for a in page.items]) == (3, ["a2"])
    assert [a.name for a in cursor.items] == ["a2", "a1"] and cursor.next_cursor
    after = await repo.cursor_page(after=cursor.next_cursor, order_by="-name", schema=AuthorName)
    assert [a.name for a in after.items] == ["a0"]
    assert [a.name for a in streamed] == ["a0", "a1", "a2"]
    assert all(len(a.books) == 3 for a in streamed)
    assert all("bio" not in s for s in _selects(q.statements)), q
    assert await repo.get(10_000, schema=AuthorOut) is None
    assert await repo.first(name="nobody", schema=AuthorOut) is None


async def test_dataclass_schemas_out(lib: Library, assert_max_queries: Any) -> None:
    await _seed(lib, authors=3)
    with assert_max_queries(2):
        out = await lib.authors.list(schema=AuthorCard)
    assert out[0] == AuthorCard(name="a0", books=[BookCard(f"a0-b{i}") for i in range(3)])


async def test_the_fast_route_does_not_ignore_the_schema(lib: Library) -> None:
    (author,) = await _seed(lib, authors=1)
    plain = await lib.authors.get(author.id)
    assert type(plain) is lib.Author
    assert isinstance(await lib.authors.get(author.id, schema=AuthorName), AuthorName)
    assert isinstance((await lib.authors.list(schema=AuthorName))[0], AuthorName)


async def test_an_injected_session_keeps_whole_objects(lib: Library) -> None:
    (author,) = await _seed(lib, authors=1)
    async with lib.db.transaction() as session:
        repo = sqlops.Repository(lib.Author, session)
        out = await repo.list(schema=AuthorOut)
        assert out[0].books[0].title == "a0-b0"
        again = await repo.get(author.id)  # from the identity map: every column loaded
        assert again.bio == "bio 0"


async def test_a_value_that_fails_validation_names_the_field(lib: Library) -> None:
    await _seed(lib, authors=1)

    class Strict(pydantic.BaseModel):
        name: int

    with pytest.raises(sqlops.SchemaError) as info:
        await lib.authors.first(schema=Strict)
    assert info.value.field == "name" and info.value.schema is Strict
    assert str(info.value).startswith("Strict.name: ")
    assert isinstance(info.value.__cause__, pydantic.ValidationError)


async def test_a_field_the_model_lacks_names_it(lib: Library) -> None:
    await _seed(lib, authors=1)

    class Wrong(pydantic.BaseModel):
        name: str
        nickname: str

    @dataclasses.dataclass
    class WrongCard:
        nickname: str

    with pytest.raises(sqlops.SchemaError, match=r"Wrong\.nickname"):
        await lib.authors.list(schema=Wrong)
    with pytest.raises(sqlops.SchemaError, match=r"WrongCard\.nickname"):
        await lib.authors.list(schema=WrongCard)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # refused before SQL
async def test_a_schema_that_nests_itself_is_refused(lib: Library) -> None:
    class Loop(pydantic.BaseModel):
        title: str
        author: Author2

    class Author2(pydantic.BaseModel):
        name: str
        books: list[Loop]

    Loop.model_rebuild()
    with pytest.raises(sqlops.SchemaError, match="nests itself"):
        await lib.books.list(schema=Loop)


async def test_without_pydantic_installed_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import builtins

    from sqlops import _schemas

    real = builtins.__import__

    def no_pydantic(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pydantic":
            raise ImportError("No module named 'pydantic'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pydantic)
    with pytest.raises(ImportError, match=r"sqlops\[fastapi\]"):
        _schemas._pydantic()


class AuthorWithCards(pydantic.BaseModel):
    name: str
    books: list[BookCard]


@dataclasses.dataclass
class CardWithBooks:
    name: str
    books: list[BookOut]


async def test_pydantic_and_dataclass_schemas_nest_in_each_other(
    lib: Library, assert_max_queries: Any
) -> None:
    await _seed(lib, authors=2, books=2)
    with assert_max_queries(4):
        mixed = await lib.authors.list(schema=AuthorWithCards)
        other = await lib.authors.list(schema=CardWithBooks)
    assert mixed[0] == AuthorWithCards(name="a0", books=[BookCard("a0-b0"), BookCard("a0-b1")])
    assert other[1] == CardWithBooks(
        name="a1", books=[BookOut(title="a1-b0"), BookOut(title="a1-b1")]
    )


# ----------------------------------------------------------------------------- SQLModel


class Squad(SQLModel, table=True):
    __tablename__ = "sch_sqlmodel_squads"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=50)
    motto: str = Field(default="", max_length=100)


class Rival(SQLModel, table=True):
    __tablename__ = "sch_sqlmodel_rivals"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=50)


class SquadUpdate(SQLModel):
    name: str | None = None
    motto: str | None = None


class SquadPublic(SQLModel):
    id: int
    name: str


async def test_sqlmodel_schemas_in_and_out(url: URL | str, assert_max_queries: Any) -> None:
    async with sqlops.Database(url) as db:
        await db.create_all(SQLModel.metadata)
        try:
            squads = sqlops.Repository(Squad, db)
            squad = await squads.create(Squad(name="red", motto="go"))
            squad = await squads.update(squad.id, SquadUpdate(name="blue"))
            assert (squad.name, squad.motto) == ("blue", "go")
            with assert_max_queries(1) as q:
                out = await squads.list(schema=SquadPublic)
            assert out == [SquadPublic(id=squad.id, name="blue")]
            assert "motto" not in q.statements[0]
            with pytest.raises(TypeError):  # a row of another table is not a schema
                await squads.create(Rival(name="x"))
        finally:
            await db.drop_all(SQLModel.metadata)
