"""Write-time checks for values a database would store wrongly instead of rejecting.

Most bad values are refused by the database itself and translated to
:class:`InvalidValueError`. Two kinds are not: a string outside an ``Enum`` column's
values (SQLAlchemy's ``Enum`` stores any string by default, and every later read of the
row then fails), a fraction for an integer column (PostgreSQL truncates 1.5 to 1,
MariaDB rounds it to 2, SQLite keeps the float), NaN (NULL on SQLite) and a number
too large for a ``NUMERIC(p, s)`` (SQLite keeps it as a float). They are refused here,
before anything is sent. Messages name the column, never the value.

A check returns the value as the column's Python type (``"admin"`` becomes
``Role.admin``, ``3.0`` becomes ``3``, and ``5`` for a float column ``5.0``), so an
instance sqlops builds holds what a read of the same row would return.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Column, Enum, Float, Integer, Numeric

from ._errors import InvalidValueError, got

Check = Callable[[Any], Any]


def for_columns(table: str, columns: Mapping[str, Column[Any]]) -> dict[str, Check]:
    """The checks of the columns that need one, by attribute key."""
    checks: dict[str, Check] = {}
    for key, column in columns.items():
        check = (
            _enum_check(table, key, column)
            or _integer_check(table, key, column)
            or _float_check(table, key, column)
        )
        if check is not None:
            checks[key] = check
    return checks


def _enum_check(table: str, key: str, column: Column[Any]) -> Check | None:
    type_ = column.type
    if not isinstance(type_, Enum):
        return None
    names = frozenset(type_.enums)
    enum_class = type_.enum_class
    members = frozenset(enum_class.__members__) if enum_class is not None else frozenset()
    valid = ", ".join(sorted(names))

    def check(value: Any) -> Any:
        if value is None or (enum_class is not None and isinstance(value, enum_class)):
            return value
        if isinstance(value, str) and value in names:
            return enum_class[value] if enum_class is not None and value in members else value
        raise InvalidValueError(
            f"{table}.{key}: not one of {valid} {got(type(value).__name__)}",
            table=table,
            column=key,
        )

    return check


def _integer_check(table: str, key: str, column: Column[Any]) -> Check | None:
    if not isinstance(column.type, Integer):
        return None

    def check(value: Any) -> Any:
        if type(value) is int or value is None or not isinstance(value, float | decimal.Decimal):
            return value  # ints, and anything else the driver itself accepts or refuses
        if not _is_whole(value):
            raise InvalidValueError(
                f"{table}.{key}: an integer column cannot hold a fraction", table=table, column=key
            )
        return int(value)

    check.only_for = (float, decimal.Decimal)  # type: ignore[attr-defined]
    return check


def _float_check(table: str, key: str, column: Column[Any]) -> Check | None:
    """NaN is refused; an int for a float column becomes the float a read returns (5 -> 5.0).

    SQLite stores NaN as NULL (or reports a NOT NULL violation), MariaDB refuses it and
    PostgreSQL keeps it: refused everywhere, so a row means the same on every backend
    (and a cursor over the column stays valid JSON).
    """
    type_ = column.type
    if not isinstance(type_, Numeric | Float):  # Float is no Numeric on SQLAlchemy 2.1
        return None
    to_float = isinstance(type_, Float) and not type_.asdecimal

    limit = _numeric_limit(type_)

    def check(value: Any) -> Any:
        if _is_nan(value):
            raise InvalidValueError(
                f"{table}.{key}: NaN cannot be stored (use None for a missing value)",
                table=table,
                column=key,
            )
        if limit is not None and _is_number(value) and abs(value) >= limit:
            raise InvalidValueError(
                f"{table}.{key}: out of range for {type_}", table=table, column=key
            )
        return float(value) if to_float and type(value) is int else value

    # A bulk path validates only values of these types (see needs_checking); the
    # conversion of an int for a float column is left to the driver there.
    suspect = (float, decimal.Decimal, int) if limit is not None else (float, decimal.Decimal)
    check.only_for = suspect  # type: ignore[attr-defined]
    return check


def needs_checking(check: Check, types: set[type]) -> bool:
    """Whether values of ``types`` can fail ``check`` (a check without ``only_for``: always)."""
    only_for: tuple[type, ...] | None = getattr(check, "only_for", None)
    return only_for is None or any(issubclass(t, only_for) for t in types)


def _is_nan(value: Any) -> bool:
    """NaN, and Decimal's signalling ``sNaN`` too (comparing one raises InvalidOperation)."""
    if isinstance(value, decimal.Decimal):
        return value.is_nan()
    return isinstance(value, float) and value != value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)


def _numeric_limit(type_: Any) -> int | None:
    """The first magnitude a ``NUMERIC(p, s)`` cannot hold (``10**(p - s)``), if it has a p.

    PostgreSQL and MariaDB refuse a larger value; SQLite stores it as a float, silently
    losing digits past the 15th: refused here so that every backend agrees.
    """
    if isinstance(type_, Float) or getattr(type_, "precision", None) is None:
        return None
    return int(10 ** (type_.precision - (type_.scale or 0)))


def _is_whole(value: float | decimal.Decimal) -> bool:
    if isinstance(value, float):
        return math.isfinite(value) and value.is_integer()
    return value.is_finite() and value == value.to_integral_value()
