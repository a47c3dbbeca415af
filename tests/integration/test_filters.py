"""The keyword filter DSL: every operator, relationship hops, and hostile input."""

from __future__ import annotations

import datetime as dt

import pytest

import sqlops
from tests.models import Event, Post, Role, Team, User


@pytest.fixture
async def users(db: sqlops.Database) -> sqlops.Repository[User]:
    red = await sqlops.Repository(Team, db).create(name="red")
    blue = await sqlops.Repository(Team, db).create(name="blue")
    repo = sqlops.Repository(User, db)
    rows = [
        ("ann@x.io", "Ann", 20, red.id, Role.admin, "a_1%"),
        ("bob@x.io", "Bob", 30, red.id, Role.member, None),
        ("cat@y.io", "Cat", None, blue.id, Role.member, "c"),
        ("dan@y.io", "dan", 40, None, Role.member, "100%"),
    ]
    for email, name, age, team_id, role, nick in rows:
        await repo.create(
            email=email, name=name, age=age, team_id=team_id, role=role, nickname=nick
        )
    bob = await repo.one(name="Bob")
    await sqlops.Repository(Post, db).create(title="hello world", author_id=bob.id)
    return repo


async def names(repo: sqlops.Repository[User], *where: object, **filters: object) -> list[str]:
    return [u.name for u in await repo.list(*where, order_by="email", **filters)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"name": "Ann"}, ["Ann"]),
        ({"name__eq": "Ann"}, ["Ann"]),
        ({"name__ne": "Ann"}, ["Bob", "Cat", "dan"]),
        ({"age__lt": 30}, ["Ann"]),
        ({"age__le": 30}, ["Ann", "Bob"]),
        ({"age__gt": 30}, ["dan"]),
        ({"age__ge": "30"}, ["Bob", "dan"]),  # strings from a query string are converted
        ({"age__in": [20, 40]}, ["Ann", "dan"]),
        ({"age__in": "20,40"}, ["Ann", "dan"]),
        ({"age__in": []}, []),
        ({"age__not_in": [20]}, ["Bob", "dan"]),
        ({"email__like": "%@y.io"}, ["Cat", "dan"]),
        ({"name__ilike": "D%"}, ["dan"]),
        ({"email__contains": "@x"}, ["Ann", "Bob"]),
        ({"nickname__contains": "_1%"}, ["Ann"]),  # wildcards in the value are literal
        ({"nickname__endswith": "%"}, ["Ann", "dan"]),
        ({"nickname__startswith": "10"}, ["dan"]),
        ({"age__is_null": True}, ["Cat"]),
        ({"age__is_null": "false"}, ["Ann", "Bob", "dan"]),
        ({"age__between": (25, 45)}, ["Bob", "dan"]),
        ({"age__between": "25,45"}, ["Bob", "dan"]),
        ({"role": "admin"}, ["Ann"]),
        ({"role": Role.member, "age__gt": 25}, ["Bob", "dan"]),
        ({"active": "true"}, ["Ann", "Bob", "Cat", "dan"]),
        ({"nickname": None}, ["Bob"]),
        ({"nickname__ne": None}, ["Ann", "Cat", "dan"]),
        ({"team__name": "red"}, ["Ann", "Bob"]),
        ({"team__name__in": ["blue"]}, ["Cat"]),
        ({"posts__title__contains": "world"}, ["Bob"]),
    ],
)
async def test_every_operator(
    users: sqlops.Repository[User], filters: dict[str, object], expected: list[str]
) -> None:
    assert await names(users, **filters) == expected
    assert await users.count(**filters) == len(expected)


async def test_filters_combine_with_expressions(users: sqlops.Repository[User]) -> None:
    assert await names(users, User.age > 10, team__name="red") == ["Ann", "Bob"]


async def test_date_and_datetime_values_from_strings(db: sqlops.Database) -> None:
    events = sqlops.Repository(Event, db)
    at = dt.datetime(2030, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)
    await events.create(name="e1", at=at, day=dt.date(2030, 5, 6))
    await events.create(name="e2", at=at + dt.timedelta(days=1), day=dt.date(2030, 5, 7))
    assert [e.name for e in await events.list(at__gt="2030-05-06T12:00:00Z")] == ["e2"]
    assert [e.name for e in await events.list(day="2030-05-06")] == ["e1"]
    with pytest.raises(sqlops.InvalidFilterError, match="not a valid date"):
        await events.list(day="tomorrow")


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"nope": 1}, "unknown filter 'nope'"),
        ({"name__nope": 1}, "unknown filter operator 'nope'"),
        ({"name__eq__eq": 1}, "unknown filter operator"),
        ({"team": 1}, "no field 'team'"),
        ({"team__nope": 1}, "Team has no field 'nope'"),
        ({"__drop": 1}, "unknown filter"),
        ({"-x; DROP TABLE users": 1}, "unknown filter"),
        ({"name; DROP TABLE users --": "x"}, "unknown filter"),
        ({"age__gt": "thirty"}, "not a valid int"),
        ({"age__gt": True}, "not a valid int"),
        ({"age__in": 5}, "expected a list"),
        ({"age__between": [1]}, "two values"),
        ({"name__like": 5}, "takes a string"),
        ({"age__is_null": "maybe"}, "true or false"),
        ({"age__lt": None}, "is_null"),
        ({"role": "superuser"}, "not a valid Role"),
    ],
)
async def test_hostile_or_bad_filters_raise_and_change_nothing(
    users: sqlops.Repository[User], filters: dict[str, object], message: str
) -> None:
    before = await users.count()
    for call in (users.list, users.count, users.exists, users.first, users.delete_where):
        with pytest.raises(sqlops.InvalidFilterError, match=message) as info:
            await call(**filters)
        assert isinstance(info.value, ValueError)
    with pytest.raises(sqlops.InvalidFilterError):
        await users.update_where(values={"name": "x"}, **filters)
    assert await users.count() == before
    assert await names(users) == ["Ann", "Bob", "Cat", "dan"]


async def test_unknown_filter_lists_valid_fields(users: sqlops.Repository[User]) -> None:
    with pytest.raises(sqlops.InvalidFilterError) as info:
        await users.list(emial="x")
    message = str(info.value)
    assert "email" in message and "team__…" in message


@pytest.mark.parametrize(
    "order_by",
    ["-x; DROP TABLE users", "name desc", "posts", "", "name,email", ["age", "bogus"]],
)
async def test_hostile_order_by_is_refused(
    users: sqlops.Repository[User], order_by: object
) -> None:
    with pytest.raises(sqlops.InvalidFilterError, match="cannot order by"):
        await users.list(order_by=order_by)
    assert await users.count() == 4


async def test_order_by_forms(users: sqlops.Repository[User]) -> None:
    by_string = await users.list(order_by="-age")
    by_attr = await users.list(order_by=User.age.desc())
    assert [u.id for u in by_string] == [u.id for u in by_attr]
    with pytest.raises(sqlops.InvalidFilterError):
        await users.list(order_by=Team.name)
