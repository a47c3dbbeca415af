"""Values a driver would send as something else, refused before they leave.

Most drivers refuse a value they cannot encode (asyncpg, aiosqlite, sqlite3), and the
translator names its column. Three turn it into something the server then stores:

* asyncmy sends the ``repr`` of a type it does not know as a string (``{'a': 1}`` lands
  in a VARCHAR as ``"{'a': 1}"``, an object as ``"<Thing object at 0x…>"``);
* asyncmy and PyMySQL write a tuple or a list as a row constructor ``(1, 2)``;
* psycopg sends a list as an array, which PostgreSQL casts into a text column (``{1,2}``),
  and any value with its own type, which PostgreSQL casts on assignment (``False`` into
  text as ``'false'``, ``"0"`` into an integer as ``0``) where asyncpg refuses it.

The dialect's ``do_execute`` / ``do_executemany`` are wrapped (as SQLAlchemy would call
them, inside its error handling): such a value raises ``TypeError``, which SQLAlchemy and
the translator treat as any refused value, naming the column from the parameters. The
MariaDB check is one ``set(map(type, …))`` per statement, a subset test in the usual case;
psycopg's is one call per parameter of a typed column, the checks cached per statement.
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import types as sa_types
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

_SENDABLE = frozenset(
    {type(None), str, int, float, bool, decimal.Decimal, bytes, bytearray, memoryview}
    | {dt.datetime, dt.date, dt.time, dt.timedelta, uuid.UUID}
)
_CONTAINERS = (dict, list, tuple, set, frozenset)


def _values(parameters: Any) -> Iterable[Any]:
    return parameters.values() if isinstance(parameters, Mapping) else parameters


def _all_values(rows: Any) -> Iterable[Any]:
    if rows and isinstance(rows[0], Mapping):  # pyformat drivers (PyMySQL): dicts
        return itertools.chain.from_iterable(map(_values, rows))
    return itertools.chain.from_iterable(rows)  # tuples (asyncmy): no call per row


def _not_scalar(types: set[type]) -> bool:
    """Whether one of ``types`` would be sent as a row or as a ``repr`` by a MariaDB driver.

    A container, a type with nothing but ``object``'s own ``str`` (``<Thing object at
    0x…>``), or a SQL expression. Anything else a driver sends as ``str(value)``, as an
    application may mean (an ``IPv4Address``, a numpy number).
    """
    if types <= _SENDABLE:
        return False
    return any(
        issubclass(t, _CONTAINERS)
        or (t.__str__ is object.__str__ and t.__repr__ is object.__repr__)
        or is_sql(t)
        for t in types
        if t not in _SENDABLE
    )


def is_sql(kind: type) -> bool:
    """Whether values of ``kind`` are SQL expressions or column attributes, not values: their
    ``str`` is SQL text (``upper(:upper_1)``), which a MariaDB driver would store."""
    return issubclass(kind, ClauseElement) or hasattr(kind, "__clause_element__")


def mariadb_refusal(value: Any) -> str | None:
    """Why a MariaDB driver cannot send ``value`` as itself, or None.

    A row constructor or a ``repr`` (see the module docstring); and a NaN or an infinity,
    which asyncmy and PyMySQL write into the SQL bare (``SET email=Infinity``: "Unknown
    column 'Infinity'"), where MariaDB has no such number anyway.
    """
    kind = type(value)
    if kind is float:
        return None if math.isfinite(value) else NON_FINITE
    if kind is decimal.Decimal:
        return None if value.is_finite() else NON_FINITE
    if kind not in _SENDABLE and _not_scalar({kind}):
        return "a value of this kind cannot be sent to MariaDB"
    return None


NON_FINITE = "NaN and infinity cannot be stored here"


def _wrap(dialect: Dialect, refuses: Callable[[Iterable[Any], Any], str | None]) -> None:
    execute, executemany = dialect.do_execute, dialect.do_executemany

    def do_execute(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        if parameters:
            reason = refuses(_values(parameters), context)
            if reason is not None:
                raise TypeError(reason)
        execute(cursor, statement, parameters, context)

    def do_executemany(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        reason = refuses(_all_values(parameters), context)
        if reason is not None:
            raise TypeError(reason)
        executemany(cursor, statement, parameters, context)

    dialect.do_execute = do_execute  # type: ignore[method-assign]
    dialect.do_executemany = do_executemany  # type: ignore[method-assign]


def refuse_unsendable(dialect: Dialect) -> None:
    """asyncmy / aiomysql / PyMySQL: refuse anything but a scalar (see the module docstring)."""

    def refuses(values: Iterable[Any], context: Any) -> str | None:
        if _not_scalar(set(map(type, values))):
            return "a value of this kind cannot be sent to MariaDB"
        return None

    _wrap(dialect, refuses)


def refuse_psycopg_casts(dialect: Dialect) -> None:
    """psycopg: what :func:`refusal` refuses, for each parameter bound for a typed column.

    psycopg sends each value with its own type (a ``str`` as "unknown") and PostgreSQL
    casts it on assignment, so ``email=False`` stored ``'false'`` and ``age="0"`` stored
    ``0``, where asyncpg (which takes the column's type for the parameter) refuses both:
    the same refusals on both drivers. The checks a statement needs are worked out once
    per compiled statement.
    """

    def refuses(values: Iterable[Any], context: Any) -> str | None:
        compiled = getattr(context, "compiled", None)
        binds = getattr(compiled, "binds", None)
        if not binds:
            return None  # a text() statement: the caller chose what to send
        checks = _checks(compiled, binds, dialect)
        if not checks:
            return None
        for params in getattr(context, "compiled_parameters", None) or ():
            for key, refuse in checks:
                value = params.get(key)
                if value is not None:
                    reason = refuse(value)
                    if reason is not None:
                        return reason
        return None

    _wrap(dialect, refuses)


def _checks(
    compiled: Any, binds: Mapping[str, Any], dialect: Dialect
) -> tuple[tuple[str, Callable[[Any], str | None]], ...]:
    found: Any = compiled.__dict__.get("_sqlops_checks")
    if found is None:
        pairs = (
            (key, None if bind.expanding else refusal(bind.type, dialect))
            for key, bind in binds.items()
        )
        found = tuple((key, refuse) for key, refuse in pairs if refuse is not None)
        compiled.__dict__["_sqlops_checks"] = found
    return found  # type: ignore[no-any-return]


def _no_list(value: Any) -> str | None:
    return "a list can only be sent to an array column" if type(value) is list else None


def _text_only(value: Any) -> str | None:
    return None if isinstance(value, str) else "a text column takes str"


def _not_text(value: Any) -> str | None:
    if isinstance(value, str):
        return "a value of the column's type is needed, not str"
    return _no_list(value)


def is_text(type_: Any) -> bool:
    """Plain text (``String`` and its kin), not an ``Enum`` nor a user's ``TypeDecorator``,
    which choose their own values."""
    return isinstance(type_, sa_types.String) and not isinstance(type_, sa_types.Enum)


# Types PostgreSQL parses a psycopg ``str`` into (asyncpg refuses one for them). Not
# ``Uuid``: asyncpg takes a UUID's text too.
_NOT_FROM_TEXT = (
    sa_types.Integer,
    sa_types.Numeric,
    sa_types.Float,  # no Numeric on SQLAlchemy 2.1
    sa_types.Boolean,
    sa_types.Date,
    sa_types.DateTime,
    sa_types.Time,
    sa_types.Interval,
)


def refusal(type_: Any, dialect: Dialect) -> Callable[[Any], str | None] | None:
    """For a parameter of ``type_``: what refuses a value the driver would send as
    something else (a list as an array; on psycopg, a number into text, text into a
    number or a date)."""
    if dialect.driver == "psycopg":
        if is_text(type_):
            return _text_only
        if isinstance(type_, _NOT_FROM_TEXT):
            return _not_text
    return None if takes_lists(type_) else _no_list


_TAKES_LISTS = (sa_types.ARRAY, sa_types.JSON, sa_types.PickleType, sa_types.NullType)


def takes_lists(type_: Any) -> bool:
    """Whether a column type is sent a Python list as itself (arrays, JSON, pickles)."""
    if isinstance(type_, sa_types.TypeDecorator):
        type_ = type_.impl_instance
    return isinstance(type_, _TAKES_LISTS)


def refuse_copied(
    columns: Sequence[Any], keys: Sequence[str], rows: Sequence[Any], dialect: Dialect
) -> None:
    """psycopg's COPY: what :func:`refusal` refuses (``TypeError``), as on every other path."""
    for column, key in zip(columns, keys, strict=True):
        refuse = refusal(column.type, dialect)
        if refuse is None:
            continue
        for row in rows:
            value = row[key]
            reason = refuse(value) if value is not None else None
            if reason is not None:
                raise TypeError(reason)
