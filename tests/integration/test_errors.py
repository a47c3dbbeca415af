"""Every database error a user can cause becomes a typed error naming its cause."""

from __future__ import annotations

import pytest
from sqlalchemy import CheckConstraint, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import sqlops
from sqlops._constraintnames import server_names
from tests.models import Account, Membership, Post, Team, User


async def test_unique_violation_names_table_column_constraint(db: sqlops.Database) -> None:
    users = sqlops.Repository(User, db)
    await users.create(email="dup@example.com", name="a")
    with pytest.raises(sqlops.UniqueViolation) as info:
        await users.create(email="dup@example.com", name="b")
    err = info.value
    assert err.table == "users"
    assert err.columns == ("email",)
    assert err.constraint == "uq_users_email"
    assert "dup@example.com" not in str(err)  # values never reach messages
    assert "users" in str(err) and "email" in str(err)
    assert err.__cause__ is not None
    assert await users.count() == 1


async def test_primary_key_collision_is_unique_violation(db: sqlops.Database) -> None:
    teams = sqlops.Repository(Team, db)
    await teams.create(id=7, name="a")
    with pytest.raises(sqlops.UniqueViolation) as info:
        await teams.create(id=7, name="b")
    assert info.value.table == "teams"
    assert info.value.columns == ("id",)
    assert info.value.constraint == "pk_teams"


async def test_composite_unique_violation(db: sqlops.Database) -> None:
    team = await sqlops.Repository(Team, db).create(name="t")
    users = sqlops.Repository(User, db)
    u1 = await users.create(email="1@x", name="1")
    u2 = await users.create(email="2@x", name="2")
    seats = sqlops.Repository(Membership, db)
    await seats.create(team_id=team.id, user_id=u1.id, seat=1)
    with pytest.raises(sqlops.UniqueViolation) as info:
        await seats.create(team_id=team.id, user_id=u2.id, seat=1)
    assert info.value.table == "memberships"
    assert set(info.value.columns) == {"team_id", "seat"}
    assert info.value.constraint == "uq_memberships_team_id_seat"


async def test_foreign_key_violation_on_insert(db: sqlops.Database) -> None:
    with pytest.raises(sqlops.ForeignKeyViolation) as info:
        await sqlops.Repository(Post, db).create(title="x", author_id=999)
    err = info.value
    assert err.table == "posts"
    assert err.columns == ("author_id",)
    assert err.constraint == "fk_posts_author_id_users"
    assert "999" not in str(err)


async def test_foreign_key_violation_on_parent_delete(db: sqlops.Database, backend: str) -> None:
    team = await sqlops.Repository(Team, db).create(name="t")
    await sqlops.Repository(User, db).create(email="a@x", name="a", team_id=team.id)
    with pytest.raises(sqlops.ForeignKeyViolation) as info:
        await sqlops.Repository(Team, db).delete_where(id=team.id)
    if backend == "sqlite":
        # SQLite names no constraint; two tables reference teams, so both are candidates.
        assert "users.team_id" in (info.value.detail or "")
        assert "memberships.team_id" in (info.value.detail or "")
    else:
        assert info.value.table == "users"
        assert info.value.columns == ("team_id",)
        assert info.value.constraint == "fk_users_team_id_teams"
    assert await sqlops.Repository(Team, db).count() == 1


async def test_not_null_violation(db: sqlops.Database) -> None:
    with pytest.raises(sqlops.NotNullViolation) as info:
        await sqlops.Repository(User, db).create(email="a@x", name=None)
    assert info.value.table == "users"
    assert info.value.columns == ("name",)
    assert "required" in str(info.value)


async def test_check_violation(db: sqlops.Database) -> None:
    with pytest.raises(sqlops.CheckViolation) as info:
        await sqlops.Repository(Account, db).create(owner="o", balance=-5)
    err = info.value
    assert err.table == "accounts"
    assert err.constraint == "ck_accounts_balance_nonneg"
    assert err.columns == ("balance",)


async def test_value_too_long_is_invalid_value(db: sqlops.Database, backend: str) -> None:
    users = sqlops.Repository(User, db)
    if backend == "sqlite":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    with pytest.raises(sqlops.InvalidValueError) as info:
        await users.create(email="a@x", name="n" * 101)
    assert info.value.table == "users"
    assert info.value.column == "name"
    assert "100" in str(info.value)
    assert "nnnn" not in str(info.value)
    assert await users.count() == 0


async def test_integer_out_of_range_is_invalid_value(db: sqlops.Database, backend: str) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite integers are 64-bit and untyped")
    with pytest.raises(sqlops.InvalidValueError) as info:
        await sqlops.Repository(Account, db).create(owner="o", small=2**40)
    assert info.value.column == "small"


async def test_nul_byte_is_invalid_value_on_postgresql(db: sqlops.Database, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("only PostgreSQL rejects NUL bytes in text")
    with pytest.raises(sqlops.InvalidValueError) as info:
        await sqlops.Repository(User, db).create(email="a@x", name="a\x00b")
    assert info.value.column == "name"
    assert "NUL" in str(info.value)


async def test_errors_from_plain_sessions_are_translated(db: sqlops.Database) -> None:
    """The translator sits on the engine, so hand-written SQL gets typed errors too."""
    async with db.transaction() as s:
        await s.execute(text("INSERT INTO teams (name) VALUES ('x')"))
    with pytest.raises(sqlops.UniqueViolation) as info:
        async with db.transaction() as s:
            await s.execute(text("INSERT INTO teams (name) VALUES ('x')"))
    assert info.value.table == "teams"
    assert info.value.columns == ("name",)


async def test_error_in_injected_session_leaves_caller_in_control(db: sqlops.Database) -> None:
    async with db.session() as s:
        users = sqlops.Repository(User, s)
        await users.create(email="a@x", name="a")
        await s.commit()
        async with s.begin_nested():
            pass
        with pytest.raises(sqlops.UniqueViolation):
            async with db.savepoint(s):
                await users.create(email="a@x", name="dup")
        # the savepoint rolled back only the failed insert
        await users.create(email="b@x", name="b")
        await s.commit()
    assert await sqlops.Repository(User, db).count() == 2


async def test_unknown_column_is_invalid_value(db: sqlops.Database) -> None:
    with pytest.raises(sqlops.InvalidValueError, match="no such column"):
        await sqlops.Repository(User, db).create(email="a@x", name="a", bogus=1)


async def test_unreachable_server_is_database_unavailable(backend: str) -> None:
    urls = {
        "postgresql": "postgresql://postgres:secret@127.0.0.1:1/x",
        "mysql": "mysql://root:secret@127.0.0.1:1/x",
        "sqlite": "sqlite:////nonexistent-dir/sub/x.db",
    }
    db = sqlops.Database(urls[backend])
    try:
        with pytest.raises(sqlops.DatabaseUnavailableError) as info:
            await sqlops.Repository(User, db).count()
        assert "secret" not in str(info.value)
        with pytest.raises(sqlops.DatabaseUnavailableError):
            await db.ping()
    finally:
        await db.dispose()


async def test_pool_timeout_names_pool_settings(url: str, backend: str) -> None:
    if backend == "sqlite":
        pytest.skip("covered on server backends")
    db = sqlops.Database(url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        async with db.session() as held:
            await held.execute(text("SELECT 1"))
            with pytest.raises(sqlops.DatabaseUnavailableError) as info:
                await db.ping()
        message = str(info.value)
        assert "pool_size=1" in message and "max_overflow=0" in message
        assert "pool_timeout=0.2" in message
    finally:
        await db.dispose()


async def test_integer_too_large_for_the_driver_is_invalid_value(db: sqlops.Database) -> None:
    """sqlite3 raises OverflowError while binding; asyncpg / MariaDB reject it too."""
    with pytest.raises(sqlops.InvalidValueError) as info:
        await sqlops.Repository(User, db).create(email="a@x", name="n", age=2**70)
    assert info.value.column == "age"
    assert str(2**70) not in str(info.value)
    assert await sqlops.Repository(User, db).count() == 0


async def test_invalid_value_messages_do_not_quote_the_value(
    db: sqlops.Database, backend: str
) -> None:
    from sqlalchemy import text

    if backend == "sqlite":
        pytest.skip("SQLite stores any value in any column")
    with pytest.raises(sqlops.InvalidValueError) as info:
        async with db.transaction() as s:
            await s.execute(
                text(
                    "INSERT INTO accounts (owner, balance, small, amount)"
                    " VALUES ('o', 'secret-abc', 0, 0)"
                )
            )
    assert "secret-abc" not in str(info.value)


async def test_sqlite_update_names_the_foreign_key_it_sets(
    db: sqlops.Database, backend: str
) -> None:
    team = await sqlops.Repository(Team, db).create(name="t")
    user = await sqlops.Repository(User, db).create(email="a@x", name="a", team_id=team.id)
    seats = sqlops.Repository(Membership, db)
    await seats.create(team_id=team.id, user_id=user.id)
    with pytest.raises(sqlops.ForeignKeyViolation) as info:
        await seats.update_where(values={"user_id": 999}, team_id=team.id)
    assert info.value.table == "memberships"
    assert info.value.columns == ("user_id",)


# ----------------------------------------------------------------------------- values without
# their column (issue 11, defect 8): every path names table and column


@pytest.mark.parametrize(
    ("values", "column"),
    [
        pytest.param({"owner": "o" * 101}, "owner", id="too-long"),
        pytest.param({"owner": "a\x00b"}, "owner", id="nul-byte"),
        pytest.param({"small": 2**40}, "small", id="out-of-range"),
    ],
)
async def test_upsert_value_errors_name_table_and_column(
    db: sqlops.Database, backend: str, values: dict[str, object], column: str
) -> None:
    nul = any("\x00" in str(v) for v in values.values())
    if backend == "sqlite" or (nul and backend != "postgresql"):
        pytest.skip(f"{backend} stores this value")
    accounts = sqlops.Repository(Account, db)
    with pytest.raises(sqlops.InvalidValueError) as info:
        await accounts.upsert({"id": 1, "owner": "o", "balance": 0, **values})
    assert (info.value.table, info.value.column) == ("accounts", column)
    assert "ooo" not in str(info.value) and str(2**40) not in str(info.value)
    assert await accounts.count() == 0


async def test_create_many_value_errors_name_table_and_column(
    db: sqlops.Database, backend: str
) -> None:
    """On PostgreSQL this is the COPY path, which bypasses SQLAlchemy's error hook."""
    if backend == "sqlite":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    users = sqlops.Repository(User, db)
    rows = [{"email": f"{i}@x", "name": "n" * (101 if i == 3 else 5)} for i in range(5)]
    with pytest.raises(sqlops.InvalidValueError) as info:
        await users.create_many(rows)
    assert (info.value.table, info.value.column) == ("users", "name")
    assert await users.count() == 0


async def test_create_many_row_checks_set_table_and_column(db: sqlops.Database) -> None:
    from sqlops.fastapi import error_body

    rows = [{"email": f"{i}@x", "name": "n", "age": 1.5 if i == 3 else i} for i in range(5)]
    with pytest.raises(sqlops.InvalidValueError) as info:
        await sqlops.Repository(User, db).create_many(rows)
    assert str(info.value).startswith("row 3: users.age")
    assert (info.value.table, info.value.column) == ("users", "age")
    assert error_body(info.value)["field"] == "age"


async def test_create_many_unknown_column_names_it(db: sqlops.Database) -> None:
    with pytest.raises(sqlops.InvalidValueError) as info:
        await sqlops.Repository(User, db).create_many([{"email": "a@x", "name": "n", "bogus": 1}])
    assert (info.value.table, info.value.column) == ("users", "bogus")


# ----------------------------------------------------------------------------- server-named
# constraints (issue 11, defect 4); the model-style matrix in tests/styles covers the rest


class LongBase(DeclarativeBase):
    """No naming convention: the server names (and shortens) the constraints."""


class Long(LongBase):
    __tablename__ = "a_table_with_a_rather_long_name_for_testing"
    id: Mapped[int] = mapped_column(primary_key=True)
    an_equally_long_column_name_here: Mapped[str] = mapped_column(String(20), unique=True)


async def test_a_long_server_named_constraint_still_names_its_columns(
    url: str, backend: str
) -> None:
    """PostgreSQL shortens a generated name to 63 bytes, the way sqlops predicts it."""
    async with sqlops.Database(url) as db:
        await db.create_all(LongBase.metadata)
        try:
            repo = sqlops.Repository(Long, db)
            await repo.create(an_equally_long_column_name_here="x")
            with pytest.raises(sqlops.UniqueViolation) as info:
                await repo.create(an_equally_long_column_name_here="x")
            assert info.value.table == "a_table_with_a_rather_long_name_for_testing"
            assert info.value.columns == ("an_equally_long_column_name_here",)
            if backend == "postgresql":
                server_name = "a_table_with_a_rather_long_na_an_equally_long_column_name_h_key"
                assert info.value.constraint == server_name
                # the name sqlops derives from the metadata (used when no detail names columns)
                assert server_name in server_names(Long.__table__, "postgresql")
        finally:
            await db.drop_all(LongBase.metadata)


class RenamedBase(DeclarativeBase):
    """Constraints that the database knows under names the models do not declare."""


class Renamed(RenamedBase):
    __tablename__ = "renamed"
    __table_args__ = (CheckConstraint("age >= 0"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(20), unique=True)
    age: Mapped[int] = mapped_column(default=0)


async def test_a_constraint_renamed_in_the_database_is_found_in_the_catalog(
    url: str, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite names the columns itself")
    renames = {
        "postgresql": [
            "ALTER TABLE renamed RENAME CONSTRAINT renamed_age_check TO age_not_negative",
            "ALTER TABLE renamed RENAME CONSTRAINT renamed_email_key TO one_email",
        ],
        "mysql": ["ALTER TABLE renamed RENAME INDEX email TO one_email"],
    }
    async with sqlops.Database(url) as db:
        await db.create_all(RenamedBase.metadata)
        try:
            async with db.transaction() as session:
                for statement in renames[backend]:
                    await session.execute(text(statement))
            repo = sqlops.Repository(Renamed, db)
            await repo.create(email="a")
            with pytest.raises(sqlops.UniqueViolation) as unique:
                await repo.create(email="a")
            assert (unique.value.table, unique.value.columns) == ("renamed", ("email",))
            assert unique.value.constraint == "one_email"
            if backend == "postgresql":
                with pytest.raises(sqlops.CheckViolation) as check:
                    await repo.create(email="b", age=-1)
                assert (check.value.table, check.value.columns) == ("renamed", ("age",))
                assert check.value.constraint == "age_not_negative"
        finally:
            await db.drop_all(RenamedBase.metadata)
