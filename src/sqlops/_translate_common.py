"""What every backend's translator shares: the failing statement's context, the model
metadata it is completed from, and value-free messages."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import math
import numbers
import re
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, MetaData, Table
from sqlalchemy import types as sa_types
from sqlalchemy.engine import Engine

from . import _catalog
from . import _constraintnames as _names
from ._errors import (
    ConstraintViolation,
    InvalidValueError,
    UniqueViolation,
)
from ._errors import got as _got

_metadatas: weakref.WeakSet[MetaData] = weakref.WeakSet()


def register_metadata(metadata: MetaData) -> None:
    """Make ``metadata``'s constraint names known to the translator."""
    _metadatas.add(metadata)


@dataclass
class _Context:
    """What the failing statement tells us: its table and its parameters."""

    table: Table | None = None
    params: Sequence[Mapping[str, Any]] = ()
    positions: Sequence[str] = ()
    is_delete: bool = False
    engine: Engine | None = None  # for a catalog lookup of a name the metadata lacks


def _constraint(
    cls: type[ConstraintViolation],
    dialect: str,
    where: tuple[str | None, str | None],
    columns: tuple[str, ...],
    constraint: str | None,
    detail: str | None,
    context: _Context,
) -> ConstraintViolation:
    """Build ``cls``, completing table / columns / constraint from the metadata.

    ``where`` is the (table, schema) the server named. A constraint name leads to its
    columns (:mod:`._constraintnames` knows each server's names for unnamed ones); the
    columns of a unique key lead to its declared name.
    """
    table, schema = where
    tables = list(_tables(context))
    known = _names.find(tables, dialect, constraint, table, schema) if constraint else None
    if known is None and table and columns and cls is UniqueViolation:
        known = _names.for_columns(tables, table, schema, columns, "primary") or (
            _names.for_columns(tables, table, schema, columns, "unique")
        )
    if known is not None:
        table, schema = known.table.name, known.table.schema
        columns = known.columns or columns  # the metadata knows the referencing side
        constraint = known.declared or constraint
    else:
        if constraint and not columns:  # a name the models do not declare: ask the server
            found = _catalog.lookup(context.engine, dialect, constraint, table, schema)
            if found is not None:
                table, columns = found
        if schema in _DEFAULT_SCHEMAS:
            schema = None
    return cls(table=table, schema=schema, columns=columns, constraint=constraint, detail=detail)


_DEFAULT_SCHEMAS = {"public"}


def _tables(context: _Context) -> Iterable[Table]:
    """The statement's table first, then its metadata's, then every registered one."""
    seen: set[int] = set()
    sources: list[MetaData] = []
    if context.table is not None:
        seen.add(id(context.table))
        yield context.table
        sources.append(context.table.metadata)
    sources.extend(_metadatas)
    for metadata in sources:
        for t in metadata.tables.values():
            if id(t) not in seen:
                seen.add(id(t))
                yield t


def _name(name: Any) -> str | None:
    return str(name) if name is not None and not isinstance(name, type(None)) else None


_QUOTED = re.compile(r"\s*'[^']*'")


def _no_values(exc: BaseException) -> str:
    """The reason in a driver message, without the value it quotes.

    Messages such as ``invalid input syntax for type integer: "abc"`` or
    ``invalid literal for int() with base 10: 'x'`` put the offending value after a
    colon; messages reach HTTP responses and logs, so everything after it is dropped.
    """
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    reason = _QUOTED.sub("", text.split(":", 1)[0]).strip()  # invalid UUID 'abc'
    return reason or type(exc).__name__


_QUOTED_VALUE = re.compile(r': "(?P<value>(?:[^"]|"")*)"\s*$')
_ASYNCPG_ARGUMENT = re.compile(r"invalid input for query argument \$\d+: '(?P<value>[^'\\]*)' \(")
# an encoder's own message, as asyncpg's COPY raises it: 'x' does not appear to be an IPv4...
_LEADING_REPR = re.compile(r"^(?:<class '[\w.]+'>: )?'(?P<value>[^'\\]*)' ")


def quoted_value(exc: BaseException | None) -> str | None:
    """The value PostgreSQL quotes at the end of a message's first line, or None.

    ``invalid input syntax for type inet: "10.0.0.x"`` names no column; the value lets
    the translator find which one it was bound for. Never put in a message.
    """
    text = str(exc.args[0]) if exc is not None and exc.args else ""
    line = text.split("\n", 1)[0]
    match = _QUOTED_VALUE.search(line)
    if match:
        return match["value"].replace('""', '"')
    match = _ASYNCPG_ARGUMENT.search(line) or _LEADING_REPR.match(line)  # a str's repr
    return match["value"] if match else None


def column_holding(context: _Context, shown: str | None) -> str | None:
    """The one column of the context's table whose bound value reads as ``shown``."""
    if shown is None:
        return None
    found = {col.name for col, value in _bound(context) if _as_text(value) == shown}
    return found.pop() if len(found) == 1 else None


def _as_text(value: Any) -> str:
    enum_value = getattr(value, "value", None) if isinstance(value, enum.Enum) else None
    return str(enum_value if enum_value is not None else value)


def _strip_suffix(bind_name: str) -> str:
    """``email_m3`` (a multi-row VALUES parameter) -> ``email``."""
    return re.sub(r"(_m\d+|_\d+)$", "", bind_name)


def _invalid_value(context: _Context, reason: str, column: str | None = None) -> InvalidValueError:
    """Name the table and the column whose value the database rejected."""
    table = context.table
    if column is None:
        misfit = _refused_by_processor(context) or _misfit(context)
        if misfit is not None:  # a value of the wrong kind: say which kind it was
            column, got = misfit
            reason = f"{reason} {_got(got)}"
        else:
            column = _guess_bad_column(context)
    if table is not None and column:
        where = f"{table.name}.{column}"
        limit = _describe_limit(table, column) if "too long" in reason.lower() else ""
        return InvalidValueError(f"{where}: {reason}{limit}", table=table.name, column=column)
    return InvalidValueError(
        f"invalid value: {reason}", table=table.name if table is not None else None
    )


def _describe_limit(table: Table, column: str) -> str:
    col = table.columns.get(column)
    if col is not None and isinstance(col.type, sa_types.String) and col.type.length:
        return f" (the column allows {col.type.length} characters)"
    return ""


_INT_RANGES = (
    (sa_types.SmallInteger, 2**15),
    (sa_types.BigInteger, 2**63),
    (sa_types.Integer, 2**31),
)


def _refused_by_processor(context: _Context) -> tuple[str, str] | None:
    """The first column whose type's bind processor raises on its value, and its kind."""
    engine = context.engine
    if engine is None:
        return None
    for col, value in _bound(context):
        try:
            process = col.type._cached_bind_processor(engine.dialect)
            if process is not None:
                process(value)
        except Exception:
            return col.name, type(value).__name__
    return None


def _bound(context: _Context) -> Iterator[tuple[Column[Any], Any]]:
    """(column, value) of each non-None parameter bound for a column of the table."""
    table = context.table
    if table is None:
        return
    for params in context.params:
        for key, value in params.items():
            col = table.columns.get(key)
            if col is None:
                col = table.columns.get(_strip_suffix(key))
            if col is not None and value is not None:
                yield col, value


def _misfit(context: _Context) -> tuple[str, str] | None:
    """The first column given a value of a kind its type does not take, and that kind.

    A value of a kind no column of that type holds (a dict for an integer) comes first;
    then one a backend might have converted (a number for a text column).
    """
    found: tuple[str, str] | None = None
    for col, value in _bound(context):
        fits = _fits(col.type, value)
        if fits is False:
            return col.name, type(value).__name__
        if fits is None and found is None:
            found = col.name, type(value).__name__
    return found


_TEXT_LIKE = (int, float, decimal.Decimal)


def _kind(value: Any, natural: Any, converted: Any) -> bool | None:
    return True if isinstance(value, natural) else (None if isinstance(value, converted) else False)


def _fits(type_: Any, value: Any) -> bool | None:
    """Whether ``value`` is of a kind ``type_`` takes: True, False, or None (another kind
    some backends convert, as a number for a text column). Unknown types take anything."""
    if isinstance(type_, sa_types.TypeDecorator):
        type_ = type_.impl_instance
    if isinstance(type_, sa_types.JSON | sa_types.PickleType | sa_types.NullType):
        return True
    if isinstance(type_, sa_types.ARRAY):
        return isinstance(value, list | tuple)
    if isinstance(type_, sa_types.Enum):
        return isinstance(value, str | enum.Enum)
    if isinstance(type_, sa_types.Boolean):  # SQLAlchemy takes True, False, 1 and 0
        return isinstance(value, bool) or (type(value) is int and value in (0, 1))
    if isinstance(type_, sa_types.Integer | sa_types.Numeric | sa_types.Float):
        if isinstance(value, numbers.Number) and not isinstance(value, complex):
            return True
        return None if isinstance(value, str) else False
    if isinstance(type_, sa_types.DateTime):
        return _kind(value, dt.datetime, dt.date | str)
    if isinstance(type_, sa_types.Date):
        return _kind(value, dt.date, str)
    if isinstance(type_, sa_types.Time):
        return _kind(value, dt.time, str)
    if isinstance(type_, sa_types.Interval):
        return _kind(value, dt.timedelta, str)
    if isinstance(type_, sa_types.Uuid):
        return _kind(value, uuid.UUID, str)
    if isinstance(type_, sa_types.LargeBinary):
        return isinstance(value, bytes | bytearray | memoryview)
    if isinstance(type_, sa_types.String):
        return _kind(value, str, _TEXT_LIKE)
    return True


def _guess_bad_column(context: _Context) -> str | None:
    """Find the column whose bound value breaks its type's limit (no value is reported)."""
    table = context.table
    if table is None:
        return None
    for params in context.params:
        for key, value in params.items():
            col = table.columns.get(key)
            if col is None:
                col = table.columns.get(_strip_suffix(key))
            if col is not None and _breaks_limit(col, value):
                return col.name
    return None


_NO_COLUMN = ""  # a non-finite value was found, bound under no column's name (param_1)


def _non_finite_column(context: _Context) -> str | None:
    """The column whose bound value is a NaN or an infinity (float or Decimal), if any;
    ``""`` when such a value is bound under a name that is no column of the table."""
    table = context.table
    for params in context.params:
        for key, value in params.items():
            if (isinstance(value, float) and not math.isfinite(value)) or (
                isinstance(value, decimal.Decimal) and not value.is_finite()
            ):
                if table is None:
                    return _NO_COLUMN
                col = table.columns.get(key)
                if col is None:
                    col = table.columns.get(_strip_suffix(key))
                return col.name if col is not None else _NO_COLUMN
    return None


def _breaks_limit(col: Column[Any], value: Any) -> bool:
    kind = col.type
    if isinstance(value, str):
        too_long = isinstance(kind, sa_types.String) and kind.length and len(value) > kind.length
        return bool(too_long) or "\x00" in value
    if isinstance(value, int) and not isinstance(value, bool):
        for type_, bound in _INT_RANGES:
            if isinstance(kind, type_):
                return not -bound <= value < bound
    return False
