"""Values a driver would send as something else, refused before they leave.

Most drivers refuse a value they cannot encode (asyncpg, aiosqlite, sqlite3), and the
translator names its column. Three turn it into something the server then stores:

* asyncmy sends the ``repr`` of a type it does not know as a string (``{'a': 1}`` lands
  in a VARCHAR as ``"{'a': 1}"``, an object as ``"<Thing object at 0x…>"``);
* asyncmy and PyMySQL write a tuple or a list as a row constructor ``(1, 2)``;
* psycopg sends a list as an array, which PostgreSQL casts into a text column (``{1,2}``).

The dialect's ``do_execute`` / ``do_executemany`` are wrapped (as SQLAlchemy would call
them, inside its error handling): such a value raises ``TypeError``, which SQLAlchemy and
the translator treat as any refused value, naming the column from the parameters. The
check is one ``set(map(type, …))`` per statement, a subset test in the usual case.
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
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


def mariadb_refuses(value: Any) -> bool:
    """Whether a MariaDB driver would mangle ``value`` (a row constructor, a ``repr``)."""
    kind = type(value)
    return kind not in _SENDABLE and _not_scalar({kind})


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


def refuse_stray_lists(dialect: Dialect) -> None:
    """psycopg: a list only for an array column (JSON is serialized before it gets here)."""

    def refuses(values: Iterable[Any], context: Any) -> str | None:
        if list not in set(map(type, values)):
            return None
        binds = getattr(getattr(context, "compiled", None), "binds", None)
        if not binds:
            return None  # a text() statement: the caller chose what to send
        return _stray_list(context, binds)

    _wrap(dialect, refuses)


_TAKES_LISTS = (sa_types.ARRAY, sa_types.JSON, sa_types.PickleType, sa_types.NullType)


def takes_lists(type_: Any) -> bool:
    """Whether a column type is sent a Python list as itself (arrays, JSON, pickles)."""
    if isinstance(type_, sa_types.TypeDecorator):
        type_ = type_.impl_instance
    return isinstance(type_, _TAKES_LISTS)


def _stray_list(context: Any, binds: Mapping[str, Any]) -> str | None:
    """A list among the execution's parameters (inline ones too) for a bind that takes none."""
    for params in getattr(context, "compiled_parameters", None) or ():
        for key, value in params.items():
            if not isinstance(value, list):
                continue
            bind = binds.get(key)
            if bind is not None and not takes_lists(bind.type):
                return "a list can only be sent to an array column"
    return None


def refuse_copied_lists(columns: Sequence[Any], keys: Sequence[str], rows: Sequence[Any]) -> None:
    """psycopg's COPY: a list only for an array column (``TypeError`` otherwise)."""
    for column, key in zip(columns, keys, strict=True):
        if not takes_lists(column.type) and any(type(row[key]) is list for row in rows):
            raise TypeError("a list can only be sent to an array column")
