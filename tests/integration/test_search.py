"""sqlops.Search: words ANDed, fields ORed, case-insensitive, wildcards literal, bounded.

Plain ``DeclarativeBase`` models without a naming convention; a to-one and a to-many
relationship for the dotted fields.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import ForeignKey, String
from sqlalchemy.engine import URL
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

import sqlops
import sqlops.fastapi as sf
from sqlops import Q, Search


class Base(DeclarativeBase):
    pass


class Org(Base):
    __tablename__ = "search_orgs"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Member(Base):
    __tablename__ = "search_members"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    email: Mapped[str] = mapped_column(String(80))
    bio: Mapped[str | None] = mapped_column(String(200), default=None)
    age: Mapped[int | None] = mapped_column(default=None)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("search_orgs.id"), default=None)
    org: Mapped[Org | None] = relationship()
    notes: Mapped[list[Note]] = relationship()


class Note(Base):
    __tablename__ = "search_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(String(200))
    member_id: Mapped[int] = mapped_column(ForeignKey("search_members.id"))


MEMBERS = [
    # id, name, email, bio, org
    (1, "Ada Lovelace", "ada@analytical.org", "first programmer", 1),
    (2, "Alan Turing", "alan@bletchley.uk", "100% computable_ish", 2),
    (3, "Grace Hopper", "grace@navy.mil", "C:\\COBOL\\compiler", None),
    (4, "Jürgen Über", "juergen@example.de", "ÉCOLE straße", 1),
    (5, "ada twin", "twin@analytical.org", None, None),
]


@pytest.fixture
async def db(url: URL | str) -> AsyncIterator[sqlops.Database]:
    database = sqlops.Database(url)
    await database.drop_all(Base.metadata)
    await database.create_all(Base.metadata)
    orgs = [{"id": 1, "name": "Analytical Engines"}, {"id": 2, "name": "Bletchley Park"}]
    await sqlops.Repository(Org, database).create_many(orgs)
    keys = ("id", "name", "email", "bio", "org_id")
    await sqlops.Repository(Member, database).create_many(
        dict(zip(keys, m, strict=True)) for m in MEMBERS
    )
    notes = [{"id": 1, "body": "met at the Difference Engine", "member_id": 1}]
    await sqlops.Repository(Note, database).create_many(notes)
    try:
        yield database
    finally:
        await database.drop_all(Base.metadata)
        await database.dispose()


@pytest.fixture
def members(db: sqlops.Database) -> sqlops.Repository[Member]:
    return sqlops.Repository(Member, db)


async def ids(repo: sqlops.Repository[Member], *where: Any, **filters: Any) -> list[int]:
    return [m.id for m in await repo.list(*where, order_by="id", **filters)]


MATCHES = [
    ("ada", ("name",), [1, 5]),
    ("ADA", ("name",), [1, 5]),  # case-insensitive
    ("ada lovelace", ("name",), [1]),  # words ANDed
    ("lovelace ada", ("name",), [1]),  # in any order
    ("analytical", ("name", "email"), [1, 5]),  # fields ORed
    ("ada analytical", ("name", "email"), [1, 5]),  # each word in any field
    ("ada bletchley", ("name", "email"), []),
    ("engines", ("name", "org.name"), [1, 4]),  # a relationship, via EXISTS
    ("park turing", ("name", "org.name"), [2]),
    ("difference", ("name", "notes.body"), [1]),  # a to-many relationship
    ("difference ada", ("name", "notes__body"), [1]),
    ("100%", ("bio",), [2]),  # % is literal
    ("%", ("bio",), [2]),
    ("_", ("bio",), [2]),  # _ is literal
    ("t_p", ("bio",), []),  # would match "first programmer" if _ were a wildcard
    ("\\", ("bio",), [3]),  # backslash is literal
    ("c:\\cobol", ("bio",), [3]),
    ("/", ("bio",), []),  # the escape character itself
    ("über", ("name",), [4]),  # beyond ASCII, on every backend
    ("ÜBER jÜrgen", ("name",), [4]),
    ("école", ("bio",), [4]),
    ("", ("name",), [1, 2, 3, 4, 5]),  # blank: no condition
    ("   \t\n", ("name",), [1, 2, 3, 4, 5]),
    (None, ("name",), [1, 2, 3, 4, 5]),
]


async def test_matches(members: sqlops.Repository[Member]) -> None:
    for text, fields, expected in MATCHES:
        search = Search(text, *fields)
        assert await ids(members, search) == expected, search
        assert await members.count(search) == len(expected), search


async def test_every_read_and_write_takes_search(members: sqlops.Repository[Member]) -> None:
    ada = Search("ada", "name", "email")
    page = await members.page(ada, per_page=1)
    assert (page.total, [m.id for m in page.items]) == (2, [1])
    cursor = await members.cursor_page(ada, limit=5)
    assert [m.id for m in cursor.items] == [1, 5]
    assert (await members.first(ada, order_by="-id")).id == 5  # type: ignore[union-attr]
    assert await members.exists(ada & Q(org_id=1))
    assert await ids(members, ada | Search("grace", "name")) == [1, 3, 5]
    assert await ids(members, ada & ~Search("twin", "name")) == [1]
    assert await ids(members, Search("ada", Member.name)) == [1, 5]  # attributes too
    assert await members.update_where(ada, values={"age": 36}) == 2
    assert await members.delete_where(Search("twin", "name")) == 1
    assert await ids(members, age=36) == [1]


async def test_injected_session(db: sqlops.Database) -> None:
    async with db.transaction() as session:
        repo = sqlops.Repository(Member, session)
        assert await ids(repo, Search("über", "name", "org.name")) == [4]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Search("x"), "at least one field"),
        (lambda: Search("x", ""), "cannot be empty"),
        (lambda: Search("x", 3), "not int"),
        (lambda: Search(b"x", "name"), "must be a string, not bytes"),
        (lambda: Search("a\x00b", "name"), "NUL character"),
        (
            lambda: Search(" ".join(f"w{i}" for i in range(Search.MAX_WORDS + 1)), "name"),
            f"{Search.MAX_WORDS + 1} distinct words; at most {Search.MAX_WORDS} allowed",
        ),
        (
            lambda: Search("x" * (Search.MAX_LENGTH + 1), "name"),
            f"at most {Search.MAX_LENGTH} allowed",
        ),
    ],
)
def test_bad_searches_are_typed_errors(make: Any, message: str) -> None:
    with pytest.raises(sqlops.InvalidFilterError, match=message):
        make()


def test_repeated_words_count_once() -> None:
    text = " ".join(["ada", "Ada", "ADA"] * 50)
    assert Search(text, "name").words == ("ada",)


BAD_FIELDS = [
    (("nope",), "Member has no field 'nope'; valid fields: age, bio, email, id, name"),
    (("age",), "contains works on text columns; Member.age holds int values"),
    (("org.nope",), "Org has no field 'nope'"),
    (("org",), "cannot search 'org': a relationship; name its columns, e.g. 'org.name'"),
    ((Org.name,), "cannot search Org.name: not a column of Member"),
]


async def test_bad_fields_are_typed_errors_on_use(members: sqlops.Repository[Member]) -> None:
    for fields, message in BAD_FIELDS:
        search = Search("x", *fields)  # fields are checked against the model on use
        with pytest.raises(sqlops.InvalidFilterError, match=message):
            await members.list(search)


HOSTILE = ["'; DROP TABLE search_members; --", "' OR 1=1 --", "%%", "__", "[a-z]*", "*?"]


async def test_hostile_text_matches_literally(members: sqlops.Repository[Member]) -> None:
    for text in HOSTILE:
        assert await ids(members, Search(text, "name", "email", "bio", "org.name")) == [], text
    assert await members.count() == 5


async def test_text_from_users_matches_like_python(
    members: sqlops.Repository[Member], backend: str
) -> None:
    """Whatever the words, the rows found are those whose fields contain them all."""
    examples: list[str] = []

    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        st.lists(
            st.one_of(
                st.sampled_from(["ada", "LOVE", "%", "_", "\\", "/", "100%", "ü", "Ü", "ing"]),
                st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=4),
            ),
            max_size=4,
        )
    )
    def collect(words: list[str]) -> None:
        examples.append(" ".join(words))

    collect()
    for text in examples:
        search = Search(text, "name", "bio")
        found = await ids(members, search)
        expected = [
            m[0]
            for m in MEMBERS
            if all(any(w.lower() in (f or "").lower() for f in (m[1], m[3])) for w in search.words)
        ]
        if backend == "mysql" and not all(w.isascii() for w in search.words):
            continue  # MariaDB's collation folds more than Python's lower() (ß = ss)
        assert found == expected, text


Filters = Annotated[dict[str, Any], sf.query_filters(allow=["org_id"], search=["name", "org.name"])]


async def test_query_filters_maps_q_to_search(db: sqlops.Database) -> None:
    app = FastAPI()
    sf.install_exception_handlers(app)

    @app.get("/members")
    async def list_members(filters: Filters) -> list[int]:
        return await ids(sqlops.Repository(Member, db), **filters)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

        async def get(params: Any) -> Any:
            response = await client.get("/members", params=params)
            return response.json() if response.status_code == 200 else response.status_code

        assert await get({"q": "ENGINES"}) == [1, 4]
        assert await get({"q": "engines jürgen", "org_id": "1"}) == [4]
        assert await get({"q": ""}) == [1, 2, 3, 4, 5]
        assert await get({}) == [1, 2, 3, 4, 5]
        assert await get({"q": "x " * 40}) == []  # one word, repeated
        assert await get({"q": " ".join(f"w{i}" for i in range(40))}) == 400
        assert await get([("q", "a"), ("q", "b")]) == 400
        assert await get({"q": "a\x00"}) == 400
        assert await get({"name": "x"}) == 400
        schema = app.openapi()["paths"]["/members"]["get"]["parameters"]
        assert {p["name"] for p in schema} == {"org_id", "q"}
    with pytest.raises(ValueError, match="'q' is the search parameter"):
        sf.query_filters(allow=["q"], search=["name"])
