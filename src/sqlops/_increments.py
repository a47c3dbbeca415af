"""What ``increment`` may add to a column: the checks that keep a counter exact.

A database adds whatever it is given and then fits the sum to the column: PostgreSQL and
MariaDB round 10 + 0.5 into an INTEGER, SQLite stores 10.5 in it, a NUMERIC(12, 2)
rounds 0.125 on every increment. Each of those is refused here, naming the column,
before anything is sent.
"""

from __future__ import annotations

import decimal
import math
from typing import Any

from sqlalchemy.sql import sqltypes

from . import _checks
from ._errors import InvalidValueError


def step(table: str, key: str, column: Any, by: Any) -> Any:
    """``by`` as the column's number type; InvalidValueError if the column cannot hold it."""
    where = f"{table}.{key}"

    def refuse(why: str) -> InvalidValueError:
        return InvalidValueError(f"{where}{why}", table=table, column=key)

    type_ = column.type
    if not isinstance(type_, sqltypes.Numeric | sqltypes.Float | sqltypes.Integer):
        raise refuse(" is not a number column: it cannot be incremented")
    if isinstance(by, bool) or not isinstance(by, int | float | decimal.Decimal):
        raise refuse(f": increment by must be a number, got {type(by).__name__}")
    if not (by.is_finite() if isinstance(by, decimal.Decimal) else math.isfinite(by)):
        raise refuse(": cannot increment by NaN or infinity")
    if isinstance(type_, sqltypes.Integer):
        if by != int(by):
            raise refuse(": an integer column cannot be incremented by a fraction")
        return int(by)
    if isinstance(type_, sqltypes.Float):
        return by if type_.asdecimal else float(by)
    return _numeric_step(type_, by, refuse)


def _numeric_step(type_: Any, by: Any, refuse: Any) -> Any:
    limit = _checks._numeric_limit(type_)
    if limit is not None and abs(by) >= limit:
        raise refuse(f": out of range for {type_}")
    scale = getattr(type_, "scale", None)
    if scale is None:
        return by
    exact = by if isinstance(by, decimal.Decimal) else decimal.Decimal(repr(by))
    if decimal_places(exact) > scale:  # NUMERIC(p, s) would round the sum, silently, each time
        raise refuse(
            f": the column keeps {scale} decimal places; an increment with more would be rounded"
        )
    return exact


def decimal_places(value: decimal.Decimal) -> int:
    """How many places after the point ``value`` needs (``1.50`` -> 1, ``1E+3`` -> 0)."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite: checked by the caller
    places = -exponent
    index = len(digits) - 1
    while places > 0 and index >= 0 and digits[index] == 0:
        places, index = places - 1, index - 1
    return max(places, 0)
