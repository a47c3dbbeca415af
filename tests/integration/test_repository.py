"""Repository CRUD in standalone mode (each call commits) and injected mode (flush only)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

import sqlops
from tests.models import Counter, Event, Membership, Note, Post, Role, Tag, Team, User


@pytest.fixture
def users(db: sqlops.Database) -> sqlops.Repository[User]:
    return sqlops.Repository(User, db)


async def test_create_returns_a_loaded_model(users: sqlops.Repository[User]) -> None:
    user = await users.create(email="a@x", name="Ada")
    assert isinstance(user, User)
    assert user.id is not None
    assert user.role is Role.member and user.active is True
    assert user.created_at.tzinfo is not None
    assert abs(user.created_at - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=1)


async def test_a_float_column_keeps_double_precision(users: sqlops.Repository[User]) -> None:
    # Mapped[float] with sqlops' annotation map is DOUBLE: SQLAlchemy 2.0 made it a 4-byte
    # FLOAT on MariaDB, which kept about 6 significant digits (-1361197 read back as
    # -1361200.0); 2.1 already chooses DOUBLE
    values = [-1361197.0, 0.1 + 0.2, 1523.4567891234, 2.0**53 - 1]
    for n, value in enumerate(values):
        user = await users.create(email=f"{n}@x", name="f", score=value)
        assert (await users.get_one(user.id)).score == value
        assert (await users.list(score=value))[0].id == user.id


async def test_create_from_an_instance(users: sqlops.Repository[User]) -> None:
    user = await users.create(User(email="a@x", name="Ada"))
    assert (await users.get_one(user.id)).email == "a@x"


async def test_get_get_one_and_missing(users: sqlops.Repository[User]) -> None:
    user = await users.create(email="a@x", name="Ada")
    assert (await users.get(user.id)) is not None
    assert (await users.get(user.id + 1000)) is None
    with pytest.raises(sqlops.NotFoundError) as info:
        await users.get_one(user.id + 1000)
    assert info.value.model is User and info.value.key == user.id + 1000
    assert "User" in str(info.value)


async def test_get_coerces_and_validates_keys(users: sqlops.Repository[User]) -> None:
    user = await users.create(email="a@x", name="Ada")
    assert (await users.get(str(user.id))) is not None  # "5" from a URL path
    with pytest.raises(sqlops.InvalidFilterError):
        await users.get("five")


async def test_composite_and_string_and_uuid_keys(db: sqlops.Database) -> None:
    team = await sqlops.Repository(Team, db).create(name="t")
    user = await sqlops.Repository(User, db).create(email="a@x", name="a")
    seats = sqlops.Repository(Membership, db)
    await seats.create(team_id=team.id, user_id=user.id, seat=3)
    assert (await seats.get((team.id, user.id))) is not None
    assert (await seats.get({"team_id": team.id, "user_id": user.id})) is not None
    with pytest.raises(sqlops.InvalidFilterError):
        await seats.get(team.id)
    counters = sqlops.Repository(Counter, db)
    await counters.create(key="home")
    assert (await counters.get_one("home")).hits == 0
    events = sqlops.Repository(Event, db)
    event = await events.create(name="launch")
    assert isinstance(event.id, uuid.UUID)
    assert (await events.get_one(str(event.id))).name == "launch"


async def test_first_one_list_count_exists(users: sqlops.Repository[User]) -> None:
    for i, name in enumerate(["b", "a", "c", "a"]):
        await users.create(email=f"{i}@x", name=name, age=20 + i)
    assert [u.email for u in await users.list()] == ["0@x", "1@x", "2@x", "3@x"]
    assert [u.name for u in await users.list(order_by="name")] == ["a", "a", "b", "c"]
    assert [u.age for u in await users.list(order_by=["name", "-age"])] == [23, 21, 20, 22]
    assert [u.age for u in await users.list(order_by=User.age.desc(), limit=2)] == [23, 22]
    assert [u.age for u in await users.list(limit=2, offset=1)] == [21, 22]
    assert (await users.first(name="a")).age == 21  # type: ignore[union-attr]
    assert (await users.first(order_by="-age")).age == 23  # type: ignore[union-attr]
    assert await users.first(name="zzz") is None
    assert (await users.one(name="b")).age == 20
    with pytest.raises(sqlops.MultipleFoundError):
        await users.one(name="a")
    with pytest.raises(sqlops.NotFoundError):
        await users.one(name="zzz")
    assert await users.count() == 4
    assert await users.count(name="a") == 2
    assert await users.count(User.age > 21) == 2
    assert await users.exists(name="c")
    assert not await users.exists(name="zzz")


async def test_update_is_partial(users: sqlops.Repository[User]) -> None:
    user = await users.create(email="a@x", name="Ada", age=30)
    before = user.updated_at
    updated = await users.update(user.id, name="Ada L.")
    assert updated.name == "Ada L." and updated.age == 30
    assert updated.updated_at >= before
    assert (await users.get_one(user.id)).name == "Ada L."
    with pytest.raises(sqlops.NotFoundError):
        await users.update(user.id + 99, name="x")
    with pytest.raises(sqlops.InvalidValueError, match="no such column"):
        await users.update(user.id, nope=1)


async def test_update_takes_a_sql_expression_as_the_orm_does(
    users: sqlops.Repository[User], db: sqlops.Database
) -> None:
    """``update(pk, age=User.age + 1)`` does what ``obj.age = User.age + 1`` does in the ORM:
    the database computes the value, and the object returned holds it."""
    user = await users.create(email="a@x", name="Ada", age=30)
    assert (await users.update(user.id, age=User.age + 1)).age == 31
    async with db.transaction() as session:
        repo = sqlops.Repository(User, session)
        held = await repo.get(user.id)
        updated = await repo.update(user.id, age=User.age + 10, name=func.upper(User.name))
        assert updated is held
        assert (updated.age, updated.name) == (41, "ADA")
    assert (await users.get_one(user.id)).age == 41


async def test_a_relationship_as_a_value_says_which_column_to_pass(
    users: sqlops.Repository[User], db: sqlops.Database
) -> None:
    team = await sqlops.Repository(Team, db).create(name="t")
    user = await users.create(email="a@x", name="a")
    with pytest.raises(sqlops.InvalidValueError, match=r"'team' \(a relationship: pass team_id\)"):
        await users.update(user.id, team=team)
    with pytest.raises(sqlops.InvalidValueError, match=r"'posts' \(a relationship: write its"):
        await users.create(email="b@x", name="b", posts=[])
    with pytest.raises(sqlops.InvalidValueError, match=r"'team' \(a relationship: pass team_id\)"):
        await users.create_many([{"email": "c@x", "name": "c", "team": team}])
    assert await users.count() == 1


async def test_update_where_and_delete_where(users: sqlops.Repository[User]) -> None:
    for i in range(5):
        await users.create(email=f"{i}@x", name="old" if i < 3 else "keep", age=i)
    assert await users.update_where(values={"name": "new"}, name="old") == 3
    assert await users.count(name="new") == 3
    assert await users.update_where(User.age >= 4, values={"age": 40}) == 1
    assert await users.delete_where(name="new", age__lt=2) == 2
    assert await users.count() == 3
    with pytest.raises(ValueError, match="all=True"):
        await users.delete_where()
    assert await users.count() == 3
    assert await users.delete_where(all=True) == 3
    assert await users.count() == 0


async def test_delete_honours_orm_cascades(db: sqlops.Database) -> None:
    users = sqlops.Repository(User, db)
    user = await users.create(email="a@x", name="a")
    posts = sqlops.Repository(Post, db)
    await posts.create(title="p1", author_id=user.id)
    await posts.create(title="p2", author_id=user.id)
    assert await users.delete(user.id) is True
    assert await posts.count() == 0
    assert await users.delete(user.id) is False


async def test_load_eager_loads_relationships(db: sqlops.Database) -> None:
    team = await sqlops.Repository(Team, db).create(name="t")
    user = await sqlops.Repository(User, db).create(email="a@x", name="a", team_id=team.id)
    tag = await sqlops.Repository(Tag, db).create(label="x")
    async with db.transaction() as s:
        post = Post(title="p", author_id=user.id)
        post.tags = [await s.get_one(Tag, tag.id)]
        s.add(post)
    users = sqlops.Repository(User, db)
    loaded = await users.get_one(user.id, load=["team", "posts.tags"])
    assert loaded.team is not None and loaded.team.name == "t"
    assert [t.label for t in loaded.posts[0].tags] == ["x"]
    listed = await users.list(load=[User.posts])
    assert [p.title for p in listed[0].posts] == ["p"]
    teams = await sqlops.Repository(Team, db).list(load="members")
    assert [m.email for m in teams[0].members] == ["a@x"]
    with pytest.raises(sqlops.InvalidFilterError, match="relationships: posts, team"):
        await users.get(user.id, load=["nope"])


# ----------------------------------------------------------------------------- injected mode


async def test_injected_mode_only_flushes(db: sqlops.Database) -> None:
    async with db.session() as s:
        users = sqlops.Repository(User, s)
        user = await users.create(email="a@x", name="a")
        assert user.id is not None  # flushed: the key is known
        await s.rollback()
    assert await sqlops.Repository(User, db).count() == 0


async def test_injected_mode_writes_atomically_across_repositories(db: sqlops.Database) -> None:
    with pytest.raises(sqlops.UniqueViolation):
        async with db.transaction() as s:
            team = await sqlops.Repository(Team, s).create(name="t")
            await sqlops.Repository(User, s).create(email="a@x", name="a", team_id=team.id)
            await sqlops.Repository(Team, s).create(name="t")  # fails: all is rolled back
    assert await sqlops.Repository(Team, db).count() == 0
    assert await sqlops.Repository(User, db).count() == 0
    async with db.transaction() as s:
        team = await sqlops.Repository(Team, s).create(name="t")
        await sqlops.Repository(User, s).create(email="a@x", name="a", team_id=team.id)
    assert await sqlops.Repository(User, db).count(team_id=team.id) == 1


async def test_injected_reads_see_the_sessions_own_writes(db: sqlops.Database) -> None:
    async with db.transaction() as s:
        users = sqlops.Repository(User, s)
        user = await users.create(email="a@x", name="a")
        assert await users.count() == 1
        assert (await users.get_one(user.id)) is user  # the identity map
        await users.update_where(values={"name": "b"}, id=user.id)
        assert user.name == "b"  # synchronized
        assert await users.increment(user.id, "score", 5) == 5
        assert user.score == 5


async def test_repository_rejects_other_binds() -> None:
    # either API's wording: "a sqlops.Database or an AsyncSession", "… sync.Database or a Session"
    with pytest.raises(
        TypeError, match=r"needs a sqlops\.(sync\.)?Database or an? (Async)?Session"
    ):
        sqlops.Repository(User, "postgresql://")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- soft delete


async def test_soft_delete_is_honoured_by_every_read(db: sqlops.Database) -> None:
    notes = sqlops.Repository(Note, db)
    kept = await notes.create(body="kept", topic="a")
    gone = await notes.create(body="gone", topic="a")
    assert await notes.soft_delete(gone.id) is True
    assert await notes.soft_delete(gone.id) is False
    assert await notes.get(gone.id) is None
    assert (await notes.get(gone.id, with_deleted=True)) is not None
    with pytest.raises(sqlops.NotFoundError):
        await notes.get_one(gone.id)
    assert [n.id for n in await notes.list()] == [kept.id]
    assert len(await notes.list(with_deleted=True)) == 2
    assert await notes.count(topic="a") == 1
    assert await notes.count(topic="a", with_deleted=True) == 2
    assert not await notes.exists(body="gone")
    assert (await notes.page()).total == 1
    assert len((await notes.cursor_page()).items) == 1
    assert [n.id async for n in notes.stream()] == [kept.id]
    assert await notes.first(body="gone") is None
    with pytest.raises(sqlops.NotFoundError):
        await notes.update(gone.id, body="x")
    assert await notes.update_where(values={"topic": "b"}, topic="a") == 1
    with pytest.raises(sqlops.NotFoundError):
        await notes.increment(gone.id, "id", 0)
    assert await notes.restore(gone.id) is True
    assert await notes.count() == 2
    deleted = await notes.get_one(gone.id)
    assert deleted.deleted_at is None


async def test_soft_delete_needs_the_mixin(users: sqlops.Repository[User]) -> None:
    with pytest.raises(TypeError, match="SoftDelete"):
        await users.soft_delete(1)


# ----------------------------------------------------------------------------- models


async def test_timestamps_are_aware_utc_on_every_backend(db: sqlops.Database) -> None:
    notes = sqlops.Repository(Note, db)
    note = await notes.create(body="x")
    again = await notes.get_one(note.id)
    assert again.created_at.tzinfo is not None
    assert again.created_at.utcoffset() == dt.timedelta(0)
    assert again.created_at == note.created_at  # microseconds survive (MariaDB DATETIME(6))
    later = dt.datetime(2030, 1, 2, 3, 4, 5, 6789, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    events = sqlops.Repository(Event, db)
    event = await events.create(name="e", at=later, day=dt.date(2030, 1, 2))
    loaded = await events.get_one(event.id)
    assert loaded.at == later
    assert loaded.at is not None and loaded.at.hour == 1  # stored and returned in UTC


async def test_server_default_timestamps_are_loaded(db: sqlops.Database) -> None:
    async with db.transaction() as s:
        from sqlalchemy import insert

        await s.execute(insert(Note).values(body="raw"))  # no Python defaults here
    note = (await sqlops.Repository(Note, db).list())[0]
    assert note.created_at.tzinfo is not None


async def test_plain_declarative_models_work(db: sqlops.Database) -> None:
    """Models from a user's own DeclarativeBase: the test schema is one."""
    async with db.session() as s:
        assert (await s.scalars(select(Team))).all() == []


async def test_for_update_locks_rows_in_an_injected_session(
    db: sqlops.Database, backend: str
) -> None:
    users = sqlops.Repository(User, db)
    user = await users.create(email="a@x", name="a")
    with pytest.raises(ValueError, match="injected session"):
        await users.get(user.id, for_update=True)
    async with db.transaction() as s:
        repo = sqlops.Repository(User, s)
        locked = await repo.get_one(user.id, for_update=True)
        assert locked.id == user.id
        assert [u.id for u in await repo.list(for_update=True, name="a")] == [user.id]
        assert (await repo.one(for_update=True, name="a")).id == user.id
        assert (await repo.first(for_update=True)) is not None
    if backend == "sqlite":
        return  # SQLite has no row locks (BEGIN IMMEDIATE already serializes writers)
    order: list[str] = []

    async def holder() -> None:
        async with db.transaction() as s:
            await sqlops.Repository(User, s).get_one(user.id, for_update=True)
            order.append("locked")
            await asyncio.sleep(0.3)
            await sqlops.Repository(User, s).update(user.id, name="first")
            order.append("first committed")

    async def waiter() -> None:
        await asyncio.sleep(0.1)
        async with db.transaction() as s:
            row = await sqlops.Repository(User, s).get_one(user.id, for_update=True)
            order.append(f"second saw {row.name}")

    await asyncio.gather(holder(), waiter())
    assert order == ["locked", "first committed", "second saw first"]


async def test_values_the_database_would_mangle_are_refused(db: sqlops.Database) -> None:
    users = sqlops.Repository(User, db)
    with pytest.raises(sqlops.InvalidValueError, match=r"users\.role: not one of admin, member"):
        await users.create(email="a@x", name="a", role="superuser")
    with pytest.raises(sqlops.InvalidValueError, match="cannot hold a fraction"):
        await users.create(email="a@x", name="a", age=1.5)
    with pytest.raises(sqlops.InvalidValueError, match=r"row 1: users\.age"):
        await users.create_many(
            [{"email": "b@x", "name": "b", "age": 2}, {"email": "c@x", "name": "c", "age": 2.5}]
        )
    assert await users.count() == 0
    ok = await users.create(email="a@x", name="a", role="admin", age=3.0, score=5)
    assert ok.role is Role.admin and ok.age == 3
    assert type(ok.age) is int and type(ok.score) is float and ok.score == 5.0  # as a read
    assert type((await users.update(ok.id, score=7)).score) is float
    with pytest.raises(sqlops.InvalidValueError):
        await users.update(ok.id, role="nope")
    with pytest.raises(sqlops.InvalidFilterError, match="works on text columns"):
        await users.list(age__contains="1")
