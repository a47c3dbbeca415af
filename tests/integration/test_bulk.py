"""Bulk writes, upserts, counters and get-or-create — including under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import String, func
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import sqlops
from tests.models import Account, Counter, Note, Team, User


@pytest.fixture
def users(db: sqlops.Database) -> sqlops.Repository[User]:
    return sqlops.Repository(User, db)


# ----------------------------------------------------------------------------- create_many


async def test_create_many_consumes_a_generator_lazily(users: sqlops.Repository[User]) -> None:
    pulled: list[int] = []
    reports: list[int] = []

    def rows() -> Iterator[dict[str, object]]:
        for i in range(2_500):
            pulled.append(i)
            yield {"email": f"{i}@x", "name": f"n{i % 10}"}

    def progress(done: int) -> None:
        reports.append(done)
        assert len(pulled) <= done + 1  # never more than one chunk ahead

    count = await users.create_many(rows(), chunk_size=1_000, progress=progress)
    assert count == 2_500
    assert reports == [1_000, 2_000, 2_500]
    assert await users.count() == 2_500
    assert await users.count(name="n3") == 250
    sample = await users.one(email="42@x")
    assert sample.created_at.tzinfo is not None  # Python-side defaults applied (COPY too)
    assert sample.active is True and sample.score == 0.0


async def test_create_many_returning_gives_models_in_order(users: sqlops.Repository[User]) -> None:
    created = await users.create_many(
        [{"email": f"{i}@x", "name": "n"} for i in range(30)], returning=True, chunk_size=7
    )
    assert [u.email for u in created] == [f"{i}@x" for i in range(30)]
    assert all(isinstance(u, User) and u.id for u in created)
    assert len({u.id for u in created}) == 30


async def test_create_many_takes_model_instances(users: sqlops.Repository[User]) -> None:
    count = await users.create_many(User(email=f"{i}@x", name="m") for i in range(5))
    assert count == 5
    objs = await users.create_many([User(email="r@x", name="r")], returning=True)
    assert objs[0].id is not None
    assert await users.count() == 6


async def test_create_many_with_uneven_keys(users: sqlops.Repository[User]) -> None:
    rows = [
        {"email": "a@x", "name": "a"},
        {"email": "b@x", "name": "b", "age": 5},
        {"email": "c@x", "name": "c", "age": 6, "nickname": "cc"},
        {"email": "d@x", "name": "d"},
    ]
    assert await users.create_many(rows) == 4
    assert [u.age for u in await users.list()] == [None, 5, 6, None]


async def test_create_many_is_all_or_nothing(users: sqlops.Repository[User]) -> None:
    rows = [{"email": f"{i}@x", "name": "n"} for i in range(50)]
    rows.append({"email": "3@x", "name": "dup"})  # a duplicate in the last chunk
    with pytest.raises(sqlops.UniqueViolation) as info:
        await users.create_many(rows, chunk_size=20)
    assert info.value.table == "users"
    assert await users.count() == 0


async def test_create_many_rejects_bad_rows_before_writing(users: sqlops.Repository[User]) -> None:
    with pytest.raises(sqlops.InvalidValueError, match="row 1: User has no column 'emial'"):
        await users.create_many([{"email": "a@x", "name": "a"}, {"emial": "b@x", "name": "b"}])
    with pytest.raises(sqlops.InvalidValueError, match="row 0: expected a mapping"):
        await users.create_many([("a@x", "a")])  # type: ignore[list-item]
    assert await users.count() == 0


async def test_create_many_not_null_violation(users: sqlops.Repository[User]) -> None:
    with pytest.raises(sqlops.NotNullViolation) as info:
        await users.create_many([{"email": "a@x", "name": None}])
    assert info.value.columns == ("name",)
    assert await users.count() == 0


async def test_create_many_empty(users: sqlops.Repository[User]) -> None:
    assert await users.create_many([]) == 0
    assert await users.create_many([], returning=True) == []


async def test_create_many_renders_sql_expressions_per_row(users: sqlops.Repository[User]) -> None:
    # func.now() per row, as create() takes it: COPY and executemany cannot send it, so the
    # rows holding one take the unit of work; the others keep their fast path, in order.
    rows = [
        {"email": "a@x", "name": "plain"},
        {"email": "b@x", "name": func.lower("ADA"), "created_at": func.now()},
        {"email": "c@x", "name": "plain too", "age": 3},
        {"email": "d@x", "name": func.upper("bob")},
    ]
    assert await users.create_many(rows, chunk_size=3) == 4
    found = await users.list(order_by="id")
    assert [(u.email, u.name) for u in found] == [
        ("a@x", "plain"),
        ("b@x", "ada"),
        ("c@x", "plain too"),
        ("d@x", "BOB"),
    ]
    assert found[1].created_at is not None and found[2].age == 3


async def test_create_many_returning_loads_what_sql_expressions_computed(
    users: sqlops.Repository[User],
) -> None:
    created = await users.create_many(
        [{"email": f"{i}@x", "name": func.lower(f"N{i}")} for i in range(5)], returning=True
    )
    # standalone, the objects come back detached: each value must already be loaded
    assert [u.name for u in created] == [f"n{i}" for i in range(5)]
    assert [u.id for u in created] == sorted(u.id for u in created)


async def test_create_many_with_a_sql_expression_is_still_all_or_nothing(
    users: sqlops.Repository[User],
) -> None:
    rows = [{"email": "a@x", "name": "a"}, {"email": "b@x", "name": func.lower("B")}]
    rows.append({"email": "a@x", "name": func.lower("DUP")})
    with pytest.raises(sqlops.UniqueViolation):
        await users.create_many(rows, chunk_size=2)
    assert await users.count() == 0


# ----------------------------------------------------------------------------- upsert


async def test_upsert_inserts_then_updates(users: sqlops.Repository[User]) -> None:
    created = await users.upsert({"email": "a@x", "name": "A", "age": 1}, conflict=["email"])
    assert created.id and created.name == "A"
    updated = await users.upsert({"email": "a@x", "name": "B", "age": 2}, conflict="email")
    assert updated.id == created.id
    assert (updated.name, updated.age) == ("B", 2)
    assert await users.count() == 1
    assert updated.updated_at >= created.updated_at


async def test_upsert_updates_only_the_listed_columns(users: sqlops.Repository[User]) -> None:
    await users.upsert({"email": "a@x", "name": "A", "age": 1}, conflict=[User.email])
    row = await users.upsert(
        {"email": "a@x", "name": "B", "age": 2}, conflict=["email"], update=["age"]
    )
    assert (row.name, row.age) == ("A", 2)


async def test_upsert_on_primary_key_by_default(db: sqlops.Database) -> None:
    counters = sqlops.Repository(Counter, db)
    await counters.upsert({"key": "k", "hits": 1})
    row = await counters.upsert({"key": "k", "hits": 5})
    assert row.hits == 5
    same = await counters.upsert({"key": "k"})  # nothing to update: the row comes back
    assert same.hits == 5


async def test_upsert_refreshes_a_loaded_instance(db: sqlops.Database) -> None:
    async with db.transaction() as s:
        counters = sqlops.Repository(Counter, s)
        first = await counters.upsert({"key": "k", "hits": 1})
        second = await counters.upsert({"key": "k", "hits": 9})
        assert second is first and first.hits == 9


async def test_upsert_rejects_a_conflict_target_that_is_not_unique(
    users: sqlops.Repository[User],
) -> None:
    with pytest.raises(sqlops.InvalidValueError, match="not a unique key"):
        await users.upsert({"email": "a@x", "name": "A"}, conflict=["name"])
    with pytest.raises(sqlops.InvalidValueError, match="include the conflict"):
        await users.upsert({"name": "A"}, conflict=["email"])
    assert await users.count() == 0


async def test_upsert_many_counts_and_deduplicates(users: sqlops.Repository[User]) -> None:
    first = [{"email": f"{i}@x", "name": "old"} for i in range(10)]
    assert await users.upsert_many(first, conflict=["email"]) == 10
    second = [{"email": f"{i}@x", "name": "new"} for i in range(5, 15)]
    second.append({"email": "14@x", "name": "last wins"})
    assert await users.upsert_many(second, conflict=["email"], chunk_size=4) >= 10
    assert await users.count() == 15
    assert await users.count(name="old") == 5
    assert (await users.one(email="14@x")).name == "last wins"


async def test_upsert_many_with_update_subset(users: sqlops.Repository[User]) -> None:
    await users.upsert_many([{"email": "a@x", "name": "A", "age": 1}], conflict=["email"])
    await users.upsert_many(
        [{"email": "a@x", "name": "B", "age": 2}], conflict=["email"], update=["age"]
    )
    row = await users.one(email="a@x")
    assert (row.name, row.age) == ("A", 2)


async def test_upsert_many_in_a_session_refreshes_the_rows_it_holds(db: sqlops.Database) -> None:
    await sqlops.Repository(User, db).create_many(
        [{"email": f"{i}@x", "name": "old"} for i in range(3)]
    )
    async with db.transaction() as session:
        users = sqlops.Repository(User, session)
        held = await users.list(order_by="id")
        rows = [{"email": "0@x", "name": "new"}, {"email": "1@x", "name": func.upper("new")}]
        assert await users.upsert_many(rows, conflict="email") == 2
        assert [u.name for u in held] == ["new", "NEW", "old"]  # no stale identity map
        assert [u.name for u in await users.list(order_by="id")] == ["new", "NEW", "old"]
    assert [u.name for u in await sqlops.Repository(User, db).list(order_by="id")] == [
        "new",
        "NEW",
        "old",
    ]


async def test_upsert_many_renders_sql_expressions(users: sqlops.Repository[User]) -> None:
    await users.upsert_many(
        [{"email": f"{i}@x", "name": "old"} for i in range(3)], conflict="email"
    )
    rows = [
        {"email": "0@x", "name": func.upper("new")},  # updates
        {"email": "1@x", "name": "plain"},  # updates, through the prepared statement
        {"email": "9@x", "name": func.lower("NEW ROW")},  # inserts
    ]
    assert await users.upsert_many(rows, conflict="email") == 3
    names = {u.email: u.name for u in await users.list()}
    assert names == {"0@x": "NEW", "1@x": "plain", "2@x": "old", "9@x": "new row"}


# ----------------------------------------------------------------------------- increment


async def test_increment_returns_the_new_value(db: sqlops.Database) -> None:
    counters = sqlops.Repository(Counter, db)
    await counters.create(key="k")
    assert await counters.increment("k", "hits") == 1
    assert await counters.increment("k", Counter.hits, by=10) == 11
    assert await counters.increment("k", "hits", by=-2) == 9
    assert await counters.increment("k", "ratio", by=0.5) == pytest.approx(0.5)
    with pytest.raises(sqlops.NotFoundError):
        await counters.increment("missing", "hits")
    with pytest.raises(sqlops.InvalidValueError):
        await counters.increment("k", "nope")
    with pytest.raises(sqlops.InvalidValueError):
        await counters.increment("k", "hits", by="1")  # type: ignore[arg-type]


async def test_forty_concurrent_increments_lose_nothing(db: sqlops.Database) -> None:
    counters = sqlops.Repository(Counter, db)
    await counters.create(key="k")
    results = await asyncio.gather(*(counters.increment("k", "hits") for _ in range(40)))
    assert sorted(results) == list(range(1, 41))  # every caller saw its own increment
    assert (await counters.get_one("k")).hits == 40


async def test_increment_respects_check_constraints(db: sqlops.Database) -> None:
    accounts = sqlops.Repository(Account, db)
    acct = await accounts.create(owner="o", balance=5)
    with pytest.raises(sqlops.CheckViolation):
        await accounts.increment(acct.id, "balance", by=-10)
    assert (await accounts.get_one(acct.id)).balance == 5


# ----------------------------------------------------------------------------- get_or_create


async def test_get_or_create(users: sqlops.Repository[User]) -> None:
    user, created = await users.get_or_create(email="a@x", defaults={"name": "A"})
    assert created and user.name == "A"
    again, created = await users.get_or_create(email="a@x", defaults={"name": "other"})
    assert not created and again.id == user.id and again.name == "A"
    with pytest.raises(ValueError):
        await users.get_or_create()
    with pytest.raises(sqlops.InvalidValueError):
        await users.get_or_create(emial="a@x")


async def test_twenty_concurrent_get_or_create_make_one_row(users: sqlops.Repository[User]) -> None:
    results = await asyncio.gather(
        *(users.get_or_create(email="race@x", defaults={"name": f"n{i}"}) for i in range(20))
    )
    assert sum(created for _, created in results) == 1
    assert len({obj.id for obj, _ in results}) == 1
    assert await users.count(email="race@x") == 1


async def test_concurrent_get_or_create_without_unique_key(
    db: sqlops.Database, backend: str
) -> None:
    """No unique constraint on the lookup: serialized by a lock instead of a violation.

    PostgreSQL: an advisory lock; SQLite: the write lock; MariaDB: a locking read whose
    gap locks make racing inserts deadlock, retried (standalone) or by db.run (injected).
    """
    notes = sqlops.Repository(Note, db)
    results = await asyncio.gather(
        *(notes.get_or_create(body="same", defaults={"topic": str(i)}) for i in range(10))
    )
    assert sum(created for _, created in results) == 1
    assert await notes.count(body="same") == 1
    assert len({obj.id for obj, _ in results}) == 1

    async def injected(session: AsyncSession, i: int) -> bool:
        _, created = await sqlops.Repository(Note, session).get_or_create(
            body="other", defaults={"topic": str(i)}
        )
        return created

    created = await asyncio.gather(*(db.run(injected, i, retries=10) for i in range(10)))
    assert sum(created) == 1
    assert await notes.count(body="other") == 1


async def test_get_or_create_reraises_other_unique_violations(db: sqlops.Database) -> None:
    users = sqlops.Repository(User, db)
    await users.create(email="taken@x", name="x")
    with pytest.raises(sqlops.UniqueViolation) as info:
        await users.get_or_create(name="new", defaults={"email": "taken@x"})
    assert info.value.columns == ("email",)


async def test_get_or_create_in_injected_mode_keeps_the_transaction(db: sqlops.Database) -> None:
    async with db.transaction() as s:
        teams = sqlops.Repository(Team, s)
        await teams.create(name="first")
        _, created = await teams.get_or_create(name="first")
        assert not created
        await teams.get_or_create(name="second")
    assert await sqlops.Repository(Team, db).count() == 2


async def test_upsert_clashing_on_another_unique_key_is_a_violation(
    users: sqlops.Repository[User],
) -> None:
    """MariaDB's ON DUPLICATE KEY fires on any unique key: it must not update that row."""
    taken = await users.create(email="taken@x", name="owner")
    with pytest.raises(sqlops.UniqueViolation) as info:
        await users.upsert({"id": taken.id + 1000, "email": "taken@x", "name": "intruder"})
    assert (info.value.table, info.value.columns) == ("users", ("email",))
    rows = [{"id": taken.id + 2000, "email": "new@x", "name": "n"}]
    rows.append({"id": taken.id + 3000, "email": "taken@x", "name": "intruder"})
    with pytest.raises(sqlops.UniqueViolation) as many:
        await users.upsert_many(rows)
    assert (many.value.table, many.value.columns) == ("users", ("email",))
    assert (await users.get_one(taken.id)).name == "owner"
    assert await users.count() == 1


async def test_two_tasks_bulk_inserting_through_one_session_are_refused(
    db: sqlops.Database,
) -> None:
    # PostgreSQL's COPY runs on the driver connection: it holds the session's guard itself
    async with db.transaction() as session:
        users = sqlops.Repository(User, session)
        batches = [[{"email": f"{t}{i}@x", "name": "n"} for i in range(50)] for t in "ab"]
        first, second = await asyncio.wait_for(
            asyncio.gather(*(users.create_many(b) for b in batches), return_exceptions=True), 10
        )
        assert first == 50
        assert isinstance(second, sqlops.SessionMisuseError), second
    assert await sqlops.Repository(User, db).count() == 50


async def test_the_applications_own_session_bulk_inserting_from_two_tasks_serves_both(
    db: sqlops.Database,
) -> None:
    # no sqlops guard there: COPY waits for SQLAlchemy's adapter lock as its statements do
    async with AsyncSession(db.engine) as session:
        await session.connection()  # SQLAlchemy refuses two tasks while it connects
        users = sqlops.Repository(User, session)
        batches = [[{"email": f"{t}{i}@x", "name": "n"} for i in range(50)] for t in "ab"]
        done = await asyncio.wait_for(asyncio.gather(*map(users.create_many, batches)), 10)
        assert done == [50, 50]
        await session.commit()
    assert await sqlops.Repository(User, db).count() == 100


async def test_a_copy_cancelled_midway_discards_its_connection(
    db: sqlops.Database, backend: str, url: str
) -> None:
    # asyncpg's COPY cut off while rows are being sent leaves the connection in a state
    # nobody can vouch for: it is invalidated (as the other fast routes do), nothing lands
    if backend != "postgresql":
        pytest.skip("COPY is PostgreSQL's bulk path")
    from sqlalchemy import event, text

    invalidated: list[BaseException | None] = []
    event.listen(db.engine.sync_engine, "invalidate", lambda _c, _r, exc: invalidated.append(exc))
    rows = ({"email": f"c{i}@x", "name": "n" * 90} for i in range(2_000_000))

    async def insert() -> None:
        async with db.transaction() as session:
            await sqlops.Repository(User, session).create_many(rows)

    task = asyncio.create_task(insert())
    watching = sqlops.Database(url)
    try:
        for _ in range(400):  # until the server shows the COPY running
            await asyncio.sleep(0.01)
            async with watching.session() as s:
                copying = (
                    await s.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%'"
                            " AND state = 'active' AND datname = current_database()"
                        )
                    )
                ).scalar()
            if copying:
                break
        else:
            pytest.fail("the COPY never showed up in pg_stat_activity")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        task.cancel()
        await watching.dispose()
    assert invalidated, "the cancelled COPY's connection went back to the pool"
    assert await sqlops.Repository(User, db).count() == 0
    assert await sqlops.Repository(User, db).create_many([{"email": "a@x", "name": "a"}]) == 1


class HostBase(DeclarativeBase):  # a user's plain Base, no naming convention
    pass


class Host(HostBase):
    __tablename__ = "bulk_hosts"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(20))
    addr: Mapped[str] = mapped_column(INET)


@pytest.mark.parametrize("returning", [False, True], ids=["copy", "insert-returning"])
async def test_create_many_names_the_column_postgresql_refuses_a_value_for(
    db: sqlops.Database, backend: str, returning: bool
) -> None:
    # asyncpg's COPY encoder raised "'x' does not appear to be an IPv4 or IPv6 interface",
    # which named no column; nothing is written either way
    if backend != "postgresql":
        pytest.skip("INET is PostgreSQL's")
    await db.create_all(HostBase.metadata)
    try:
        hosts = sqlops.Repository(Host, db)
        for bad in ("not-an-ip", "10.0.0.300"):
            rows = [{"id": 1, "name": "a", "addr": "10.0.0.1"}, {"id": 2, "name": "b", "addr": bad}]
            with pytest.raises(sqlops.InvalidValueError, match=r"^bulk_hosts\.addr: ") as info:
                await hosts.create_many(rows, returning=returning)
            assert info.value.column == "addr"
            assert bad not in str(info.value)  # values stay out of messages
        assert await hosts.count() == 0
    finally:
        await db.drop_all(HostBase.metadata)
