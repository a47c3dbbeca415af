"""Hostile input, generated: only typed errors come out, and no row changes unasked.

Filter names and values, ``order_by``, cursors and column values come from HTTP query
strings and request bodies. Whatever they hold — unknown names, NUL bytes, 200-bit
integers, NaN, lists where a scalar belongs, damaged cursors — a call must either work
or raise a typed error: a :class:`sqlops.SqlopsError`, or a plain ``ValueError`` /
``TypeError`` raised by sqlops itself where the contract says so. Never a driver's or
SQLAlchemy's exception. A call that fails leaves the table exactly as it was (checked
by a checksum of every row); a write that succeeds stores exactly what was given.

Each test sets its database up once and runs every example against it, so the example
counts stay modest and the whole file runs in seconds.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import hashlib
import math
import os
import traceback
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import exc as sa_exc
from sqlalchemy import select

import sqlops
from tests.models import Role, Team, User

SETTINGS = settings(
    max_examples=int(os.environ.get("SQLOPS_HYPOTHESIS_EXAMPLES", 30)),  # a deep run: more
    deadline=None,
    database=None,  # no .hypothesis/ directory in the work tree
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

USER_FIELDS = [
    "id", "email", "name", "age", "score", "active", "role", "nickname", "team_id",
    "created_at", "team__name", "team__id", "posts__title", "posts__tags__label",
]  # fmt: skip

# Values as they arrive from JSON bodies and query strings, and worse.
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(),
    st.floats(),
    st.text(max_size=30),
    st.text(max_size=10).map(lambda s: s + "\x00" + s),
    st.binary(max_size=10),
    st.lists(st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.dates(),
    st.datetimes(),
    # a signalling NaN raises on any comparison, in Python itself; JSON cannot carry one
    st.decimals(allow_nan=True, places=3).filter(lambda d: not d.is_snan()),
    st.uuids(),
    st.sampled_from(["1", "-1", "1e400", "NaN", "' OR 1=1 --", "%", "_", "admin", "true"]),
)
TEXT_OPERATORS = {"like", "ilike", "contains", "startswith", "endswith"}
NOT_TEXT = {"id", "age", "score", "active", "team_id", "created_at", "team__id"}
NAMES = st.one_of(st.sampled_from(USER_FIELDS), st.text(max_size=20))
OPERATORS = st.one_of(st.sampled_from(sqlops.OPERATORS), st.text(max_size=8))


def _typed(exc: BaseException) -> None:
    """Fail unless ``exc`` is an error the contract allows a caller to see."""
    if isinstance(exc, sqlops.SqlopsError):
        return
    raised_by = traceback.extract_tb(exc.__traceback__)[-1].filename
    allowed = type(exc) in (ValueError, TypeError) and "/sqlops/" in raised_by
    assert allowed and not isinstance(exc, sa_exc.SQLAlchemyError), (
        f"untyped error {type(exc).__module__}.{type(exc).__name__}: {exc} (from {raised_by})"
    )


async def _checksum(db: sqlops.Database, but: int | None = None) -> str:
    """A digest of every row of users (except user ``but``) and teams, in key order."""
    digest = hashlib.sha256()
    async with db.transaction(readonly=True) as s:
        for table in (User.__table__, Team.__table__):
            query = select(table).order_by(*table.primary_key)
            if table is User.__table__ and but is not None:
                query = query.where(table.c.id != but)
            digest.update(repr((await s.execute(query)).all()).encode())
    return digest.hexdigest()


@pytest.fixture
async def users(db: sqlops.Database) -> sqlops.Repository[User]:
    """Five users in two teams."""
    teams = sqlops.Repository(Team, db)
    red, blue = await teams.create(name="red"), await teams.create(name="blue")
    repo = sqlops.Repository(User, db)
    for n in range(5):
        team = (red, blue)[n % 2]
        await repo.create(email=f"u{n}@x.io", name=f"user {n}", age=20 + n, team_id=team.id)
    return repo


async def _call(call: Any) -> Any:
    try:
        return await call
    except Exception as exc:
        _typed(exc)
        return exc


# ----------------------------------------------------------------------------- reads


@SETTINGS
@given(
    name=NAMES,
    op=OPERATORS,
    plain=st.booleans(),
    value=VALUES,
    method=st.sampled_from(["list", "count", "first", "exists", "page", "cursor_page"]),
)
async def test_filters_from_a_query_string(
    users: sqlops.Repository[User],
    db: sqlops.Database,
    name: str,
    op: str,
    plain: bool,
    value: Any,
    method: str,
) -> None:
    # known bug, tested on its own below: text operators on columns that are not text
    assume(plain or op not in TEXT_OPERATORS or name not in NOT_TEXT)
    key = name if plain else f"{name}__{op}"
    before = await _checksum(db)
    await _call(getattr(users, method)(**{key: value}))
    assert await _checksum(db) == before


ORDER_ITEMS = st.one_of(
    st.sampled_from(USER_FIELDS).flatmap(lambda f: st.sampled_from([f, f"-{f}", f"+{f}"])),
    st.text(max_size=15),
    st.integers(),
    st.none(),
)


@SETTINGS
@given(
    order_by=st.one_of(ORDER_ITEMS, st.lists(ORDER_ITEMS, max_size=3)),
    method=st.sampled_from(["list", "first", "page", "cursor_page"]),
)
async def test_order_by_from_a_query_string(
    users: sqlops.Repository[User], db: sqlops.Database, order_by: Any, method: str
) -> None:
    before = await _checksum(db)
    await _call(getattr(users, method)(order_by=order_by))
    assert await _checksum(db) == before


@SETTINGS
@given(cursor=st.one_of(st.text(max_size=200), st.binary(max_size=50), st.integers()))
async def test_random_cursors_are_refused(
    users: sqlops.Repository[User], db: sqlops.Database, cursor: Any
) -> None:
    with pytest.raises(sqlops.InvalidCursorError):
        await users.cursor_page(after=cursor, limit=2)


@SETTINGS
@given(data=st.data())
async def test_damaged_real_cursors_are_refused(
    users: sqlops.Repository[User], db: sqlops.Database, data: st.DataObject
) -> None:
    order = data.draw(st.sampled_from([None, "name", "-age", ["team_id", "-email"]]))
    first = await users.cursor_page(limit=2, order_by=order)
    cursor = first.next_cursor
    assert cursor is not None
    intact = [u.id for u in (await users.cursor_page(after=cursor, limit=2, order_by=order)).items]
    damage = data.draw(st.sampled_from(["flip a bit", "cut", "other ordering"]))
    if damage == "flip a bit":
        index = data.draw(st.integers(0, len(cursor) - 1))
        flipped = chr(ord(cursor[index]) ^ (1 << data.draw(st.integers(0, 6))))
        damaged, other_order = cursor[:index] + flipped + cursor[index + 1 :], order
    elif damage == "cut":
        damaged, other_order = cursor[: data.draw(st.integers(0, len(cursor) - 1))], order
    else:
        damaged, other_order = cursor, "-name" if order != "-name" else "age"
    try:
        page = await users.cursor_page(after=damaged, limit=2, order_by=other_order)
    except sqlops.InvalidCursorError:
        return
    # base64 ignores the spare low bits of its last character: the same cursor, then
    assert damage == "flip a bit" and [u.id for u in page.items] == intact


# ----------------------------------------------------------------------------- writes


def _not_a_string(value: Any) -> bool:
    return not isinstance(value, str)


def _whole(value: Any) -> bool:
    """False for a finite number with a fraction (1.5, Decimal("0.001"))."""
    if isinstance(value, float) and math.isfinite(value):
        return value.is_integer()
    if isinstance(value, decimal.Decimal) and value.is_finite():
        return value == value.to_integral_value()
    return True


# Strings outside an Enum and fractions for integer columns have their own tests below.
COLUMN_VALUES = {
    "email": st.one_of(st.text(min_size=1, max_size=300), VALUES),
    "name": st.one_of(st.text(max_size=120), VALUES),
    "age": VALUES.filter(_whole),
    "score": VALUES,
    "active": VALUES,
    "role": st.one_of(st.sampled_from([*Role, "member", "admin"]), VALUES.filter(_not_a_string)),
    "nickname": st.one_of(st.text(max_size=60), VALUES),
    "team_id": VALUES.filter(_whole),
}


@SETTINGS
@given(data=st.data(), action=st.sampled_from(["create", "update"]))
async def test_hostile_column_values_are_stored_exactly_or_refused(
    users: sqlops.Repository[User], db: sqlops.Database, data: st.DataObject, action: str
) -> None:
    column = data.draw(st.sampled_from(sorted(COLUMN_VALUES)))
    value = data.draw(COLUMN_VALUES[column])
    target = (await users.first(order_by="id")).id  # type: ignore[union-attr]
    before, others = await _checksum(db), await _checksum(db, but=target)
    if action == "create":
        serial = data.draw(st.uuids()).hex
        values = {"email": f"{serial}@x.io", "name": "new", column: value}
        result = await _call(users.create(**values))
    else:
        result = await _call(users.update(target, **{column: value}))
    if isinstance(result, BaseException):
        assert await _checksum(db) == before, f"{action} failed but changed a row"
        if isinstance(result, sqlops.InvalidValueError):  # the value's column, by name
            assert (result.table, result.column) == ("users", column), str(result)
        return
    if action == "create":
        assert await _checksum(db, but=result.id) == before, "create changed another row"
    else:
        assert await _checksum(db, but=target) == others, "update changed another row"
    stored = getattr(await users.get_one(result.id), column)
    if value is None and action == "create" and _default(column) is not None:
        # SQLAlchemy's rule: None for a column with a default on INSERT means "not
        # given", so the default is stored (update(active=None) is a NotNullViolation)
        assert stored == _default(column)
        return
    if db.dialect != "postgresql" and not _own_type(value, column):
        return  # MariaDB and SQLite convert it by their own rules (docs/reliability.md)
    assert _same(value, stored), f"{column}: sent {value!r}, stored {stored!r}"


def _default(column: str) -> Any:
    default = User.__table__.c[column].default
    return getattr(default, "arg", None)


def _own_type(value: Any, column: str) -> bool:
    """Whether ``value`` is of the Python type ``column`` holds (an int for a float too)."""
    python_type = User.__table__.c[column].type.python_type
    if python_type is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if python_type is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if issubclass(python_type, enum.Enum):
        return isinstance(value, python_type | str)
    return isinstance(value, python_type)


def _same(sent: Any, stored: Any) -> bool:
    """Whether ``stored`` is exactly ``sent``, in the column's own Python type."""
    if sent == stored or (_nan(sent) and _nan(stored)):
        return True
    if isinstance(stored, enum.Enum):
        return sent in (stored.name, stored.value)  # an Enum column takes names too
    if isinstance(stored, float) and isinstance(sent, int | decimal.Decimal):
        return float(sent) == stored  # a number for a float column becomes a float
    return False


def _nan(value: Any) -> bool:
    if isinstance(value, float | decimal.Decimal):
        return math.isnan(value)
    return False


@pytest.mark.parametrize("sent", [dt.datetime(2020, 1, 1), 0.1, 5, True])
def test_the_checker_does_not_take_text_for_a_value(sent: Any) -> None:
    """_same() itself: a value and its text are not the same."""
    assert not _same(sent, str(sent))
    assert _same(sent, sent)


async def test_an_unknown_enum_string_is_refused_not_stored(
    users: sqlops.Repository[User], db: sqlops.Database
) -> None:
    before = await _checksum(db)
    result = await _call(users.create(email="enum@x.io", name="e", role="superuser"))
    assert isinstance(result, sqlops.InvalidValueError), f"stored: {result!r}"
    assert await _checksum(db) == before


@pytest.mark.parametrize("fraction", [1.5, decimal.Decimal("0.001")])
async def test_a_fraction_for_an_integer_column_is_refused_not_truncated(
    users: sqlops.Repository[User],
    db: sqlops.Database,
    fraction: Any,
) -> None:
    before = await _checksum(db)
    result = await _call(users.create(email="fraction@x.io", name="f", age=fraction))
    assert isinstance(result, sqlops.InvalidValueError), f"stored: {result!r}"
    assert await _checksum(db) == before


@pytest.mark.parametrize(
    "key", ["id__like", "age__contains", "created_at__startswith", "active__ilike"]
)
async def test_text_operators_on_other_columns_are_invalid_filters(
    users: sqlops.Repository[User], key: str
) -> None:
    try:
        result: Any = await users.list(**{key: "5"})
    except Exception as exc:  # an SADeprecationWarning under -W error included
        result = exc
    assert isinstance(result, sqlops.InvalidFilterError), repr(result)
