"""sqlops.Q: the keyword DSL as a value, combined with | & ~, wherever *where goes.

The models sit on a plain ``DeclarativeBase`` with no naming convention, soft delete
declared the way a user without sqlops' mixins would (``__sqlops_soft_delete__``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import DateTime, ForeignKey, String, func, select
from sqlalchemy.engine import URL
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

import sqlops
from sqlops import Q, Search


class Base(DeclarativeBase):
    pass


class Team(Base):
    __tablename__ = "q_teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Person(Base):
    __tablename__ = "q_people"
    __sqlops_soft_delete__ = "deleted_at"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    email: Mapped[str] = mapped_column(String(100), unique=True)
    age: Mapped[int | None] = mapped_column(default=None)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("q_teams.id"), default=None)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    team: Mapped[Team | None] = relationship()
    posts: Mapped[list[Post]] = relationship(back_populates="author")


class Post(Base):
    __tablename__ = "q_posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    author_id: Mapped[int] = mapped_column(ForeignKey("q_people.id"))
    author: Mapped[Person] = relationship(back_populates="posts")


PEOPLE = [
    # id, name, email, age, team
    (1, "Ann", "ann@x.io", 20, 1),
    (2, "Bob", "bob@x.io", 30, 1),
    (3, "Cat", "cat@y.io", None, 2),
    (4, "Dan", "dan@y.io", 40, None),
    (5, "Eve", "eve@x.io", 50, 2),  # soft-deleted below
]


@pytest.fixture
async def db(url: URL | str) -> AsyncIterator[sqlops.Database]:
    database = sqlops.Database(url)
    await database.drop_all(Base.metadata)
    await database.create_all(Base.metadata)
    await sqlops.Repository(Team, database).create_many(
        [{"id": 1, "name": "red"}, {"id": 2, "name": "blue"}]
    )
    rows = [dict(zip(("id", "name", "email", "age", "team_id"), p, strict=True)) for p in PEOPLE]
    await sqlops.Repository(Person, database).create_many(rows)
    await sqlops.Repository(Post, database).create_many(
        [
            {"id": 1, "title": "hello world", "author_id": 2},
            {"id": 2, "title": "bye", "author_id": 3},
        ]
    )
    await sqlops.Repository(Person, database).soft_delete(5)
    try:
        yield database
    finally:
        await database.drop_all(Base.metadata)
        await database.dispose()


@pytest.fixture
def people(db: sqlops.Database) -> sqlops.Repository[Person]:
    return sqlops.Repository(Person, db)


async def names(repo: sqlops.Repository[Person], *where: Any, **filters: Any) -> list[str]:
    return [p.name for p in await repo.list(*where, order_by="id", **filters)]


COMBINATIONS = [
    (Q(name="Ann") | Q(email__endswith="@y.io"), ["Ann", "Cat", "Dan"]),
    (Q(name="Ann") & Q(age=20), ["Ann"]),
    (Q(name="Ann") & Q(age=21), []),
    (~Q(age__gt=25), ["Ann", "Cat"]),  # the complement: Cat's NULL age included
    (~Q(age=20), ["Bob", "Cat", "Dan"]),
    (~(Q(name="Ann") | Q(name="Bob")), ["Cat", "Dan"]),
    (Q(age__gt="25") & ~Q(team__name="red"), ["Dan"]),  # strings converted, EXISTS
    (Q(team__name="red") | Q(posts__title__contains="bye"), ["Ann", "Bob", "Cat"]),
    (Q(posts__title__contains="hello") & Q(team__name="red"), ["Bob"]),
    (Q(name__in=["Ann", "Dan"]) | Q(age__is_null=True), ["Ann", "Cat", "Dan"]),
    (Q(Q(name="Ann") | Q(name="Bob"), age__ge=30), ["Bob"]),
    (Q(name="Ann") | (Person.age > 35), ["Ann", "Dan"]),  # a SQLAlchemy expression too
    (Q(), ["Ann", "Bob", "Cat", "Dan"]),
    (Q() | Q(name="nobody"), ["Ann", "Bob", "Cat", "Dan"]),
    (~Q(), []),
]


async def test_combinations(people: sqlops.Repository[Person]) -> None:
    for where, expected in COMBINATIONS:
        assert await names(people, where) == expected, where
        assert await people.count(where) == len(expected), where
        assert await people.exists(where) is bool(expected), where


async def test_every_method_takes_q(people: sqlops.Repository[Person]) -> None:
    either = Q(name="Ann") | Q(name="Cat")
    assert (await people.first(either, order_by="-id")).name == "Cat"  # type: ignore[union-attr]
    assert (await people.one(either & Q(age=20))).name == "Ann"
    with pytest.raises(sqlops.MultipleFoundError):
        await people.one(either)
    page = await people.page(either, per_page=1, page=2)
    assert ([p.name for p in page.items], page.total) == (["Cat"], 2)
    cursor = await people.cursor_page(either, limit=1)
    assert cursor.next_cursor is not None
    after = await people.cursor_page(either, limit=1, after=cursor.next_cursor)
    assert [p.name for p in after.items] == ["Cat"]
    async with contextlib.aclosing(people.stream(either, order_by="id")) as rows:
        assert [p.name async for p in rows] == ["Ann", "Cat"]
    stmt = people.select(either)
    assert "OR" in str(stmt)
    assert await people.update_where(either, values={"age": 99}) == 2
    assert await names(people, age=99) == ["Ann", "Cat"]
    assert await people.delete_where(Q(age=99) & ~Q(name="Cat")) == 1  # Cat has a post
    assert await names(people) == ["Bob", "Cat", "Dan"]


async def test_keyword_filters_and_q_together(people: sqlops.Repository[Person]) -> None:
    assert await names(people, Q(name="Ann") | Q(name="Bob"), age__gt=25) == ["Bob"]


async def test_soft_deleted_rows_stay_out(people: sqlops.Repository[Person]) -> None:
    eve = Q(name="Eve") | Q(email="eve@x.io")
    assert await names(people, eve) == []
    assert await people.count(eve) == 0
    assert await people.update_where(eve, values={"age": 1}) == 0
    assert [p.name for p in await people.list(eve, with_deleted=True)] == ["Eve"]


async def test_injected_session(db: sqlops.Database) -> None:
    async with db.transaction() as session:
        repo = sqlops.Repository(Person, session)
        assert await names(repo, Q(name="Ann") | Q(team__name="blue")) == ["Ann", "Cat"]
        assert await repo.update_where(~Q(age__is_null=False), values={"age": 7}) == 1
        cat = await repo.get_one(3)
        assert cat.age == 7


async def test_model_independent_until_used(db: sqlops.Database) -> None:
    red = Q(name="red") | Q(name="Ann")
    assert [t.name for t in await sqlops.Repository(Team, db).list(red)] == ["red"]
    assert await names(sqlops.Repository(Person, db), red) == ["Ann"]
    bad = Q(title="x")  # a Post field: fine to build, refused where it does not exist
    assert await sqlops.Repository(Post, db).count(bad) == 0
    with pytest.raises(sqlops.InvalidFilterError, match="Person has no field 'title'"):
        await names(sqlops.Repository(Person, db), bad)


BAD = [
    (Q(nope=1), "unknown filter 'nope': Person has no field 'nope'; valid fields: age, "),
    (Q(name="a") | Q(age__near=3), "unknown filter operator 'near'"),
    (~Q(age="thirty"), "age: 'thirty' is not a valid int"),
    (Q(age__contains="3"), "contains works on text columns"),
    (Q(team__nope="x"), "Team has no field 'nope'"),
    (Q(age__between=[1]), "between takes two values"),
    (Q(name__in={"a": 1}), "expected a list of values"),
]


async def test_typed_errors(people: sqlops.Repository[Person]) -> None:
    for where, message in BAD:
        for call in (people.list(where), people.count(where), people.delete_where(where)):
            with pytest.raises(sqlops.InvalidFilterError, match=message.replace("(", r"\(")):
                await call


async def test_no_condition_does_not_delete_everything(people: sqlops.Repository[Person]) -> None:
    for empty in (Q(), Search("", "name"), Q(Search("   ", "name")), Q() & Q()):
        with pytest.raises(ValueError, match="without a condition"):
            await people.delete_where(empty)
        with pytest.raises(ValueError, match="without a condition"):
            await people.delete_where(q=empty)
    assert await people.count() == 4


def test_q_is_a_small_frozen_value() -> None:
    q = Q(name="a", age__in=[1, 2]) | ~Q(team__name="red")
    assert repr(q) == "(Q(name='a', age__in=(1, 2)) | ~Q(team__name='red'))"
    assert q == Q(name="a", age__in=(1, 2)) | ~Q(team__name="red")
    assert hash(q) == hash(Q(name="a", age__in=[1, 2]) | ~Q(team__name="red"))
    with pytest.raises(AttributeError):
        q.negated = True  # type: ignore[misc]
    with pytest.raises(TypeError, match="not with and, or, not"):
        bool(Q(name="a"))
    with pytest.raises(TypeError, match="cannot combine"):
        Q(name="a") | "name = 'a'"  # type: ignore[operator]
    with pytest.raises(TypeError, match="use keywords for filters"):
        Q("name = 'a'")


HOSTILE = [
    "'; DROP TABLE q_people; --",
    "' OR '1'='1",
    "%",
    "_",
    "\\",
    "a%b_c\\d",
    "\x00",
    "ann@x.io\x00",
    "Ann\n",
    "😀" * 50,
]


async def test_hostile_values_match_nothing_and_break_nothing(
    people: sqlops.Repository[Person],
) -> None:
    for value in HOSTILE:
        where = Q(name=value) | Q(email__contains=value) | Q(name__in=[value, value])
        with contextlib.suppress(sqlops.InvalidFilterError):  # a NUL in a pattern: refused
            assert await names(people, where) == [], repr(value)
    assert await people.count() == 4


async def test_huge_in_lists(people: sqlops.Repository[Person]) -> None:
    many = list(range(10, 5000))
    assert await names(people, Q(id__in=[*many, 2]) | Q(name="Ann")) == ["Ann", "Bob"]
    assert await people.count(~Q(id__in=many)) == 4


KEYS = ["name", "email__contains", "age__gt", "team__name"]


async def test_q_from_a_query_string_cannot_reach_sql(
    people: sqlops.Repository[Person], db: sqlops.Database
) -> None:
    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        key=st.one_of(st.sampled_from(KEYS), st.text(max_size=12)),
        value=st.one_of(
            st.text(max_size=20), st.integers(), st.none(), st.lists(st.text(max_size=3))
        ),
        negate=st.booleans(),
    )
    def check(key: str, value: Any, negate: bool) -> None:
        calls.append((key, value, negate))

    calls: list[tuple[str, Any, bool]] = []
    check()
    for key, value, negate in calls:
        where = ~Q(**{key: value}) if negate else Q(**{key: value}) | Q(name="Ann")
        with contextlib.suppress(sqlops.SqlopsError):  # anything else fails the test
            await people.list(where)
    async with db.session() as session:
        total = await session.scalar(select(func.count()).select_from(Person))
    assert total == 5
