"""Turn driver errors into the sqlops error tree: one table per backend, one translator.

The kind of error comes from SQLSTATE (PostgreSQL), the server error number (MariaDB /
MySQL) or the extended result code (SQLite) — never from English text where a code
exists. Names (table, columns, constraint) come from the driver's structured fields when
it has them, else from the message, and are completed from the model metadata.

Messages never contain row values or bound parameters: they end up in HTTP responses and
logs. The driver's own exception stays reachable as ``__cause__``.

Each backend's table is its own module (``_translate_pg``, ``_translate_mysql``,
``_translate_sqlite``); what they share is in ``_translate_common``.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Table
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import ExceptionContext

from ._errors import (
    DatabaseUnavailableError,
    InvalidValueError,
    SqlopsError,
)
from ._errors import got as _got
from ._sendable import NON_FINITE
from ._translate_common import (
    _Context as _Context,
)
from ._translate_common import (
    _guess_bad_column,
    _invalid_value,
    _misfit,
    _no_values,
    _non_finite_column,
    _strip_suffix,
    _tables,
)
from ._translate_common import (
    column_holding as column_holding,
)
from ._translate_common import (
    quoted_value as quoted_value,
)
from ._translate_common import (
    register_metadata as register_metadata,
)
from ._translate_mysql import (
    _mysql_code,
    _translate_mysql,
)
from ._translate_pg import (
    _asyncpg_error,
    _psycopg_error,
    _translate_postgresql,
)
from ._translate_sqlite import (
    _translate_sqlite,
)

# ----------------------------------------------------------------------------- entry points


_BIND_ERRORS = (TypeError, ValueError, ArithmeticError, LookupError)
# what a bind processor or a driver's encoder raises for a value of the wrong kind
BIND_ERRORS = (*_BIND_ERRORS, AttributeError)
invalid_value = _invalid_value
no_values = _no_values


def on_handle_error(ctx: ExceptionContext) -> BaseException | None:
    """``handle_error`` hook: return the sqlops error to raise instead, if any."""
    if isinstance(ctx.original_exception, SqlopsError) or not isinstance(
        ctx.original_exception, Exception
    ):
        return None  # cancellation / KeyboardInterrupt must propagate as themselves
    if ctx.is_pre_ping:
        # pool_pre_ping found a dead connection: SQLAlchemy replaces it only if the
        # error reaches it untouched (a new exception here would fail the checkout).
        return None
    context = _statement_context(ctx)
    original = ctx.original_exception
    binding = isinstance(original, _BIND_ERRORS) or (
        # a column type's bind processor given the wrong kind (``value.tzinfo`` of an int):
        # raised before the statement had an execution context
        isinstance(original, AttributeError) and ctx.execution_context is None
    )
    if binding and ctx.statement:
        # raised while binding a parameter: by a bind processor (a dict for an Enum, a
        # UUID for a Boolean) or by the driver (sqlite3's OverflowError for 2**70)
        if isinstance(original, LookupError):  # an Enum's message starts with the value
            return _invalid_value(context, "not one of the column's allowed values")
        return _invalid_value(context, _no_values(original))
    err = translate(original, context)
    if err is None and ctx.statement:
        column = _non_finite_column(context)  # MariaDB's drivers cannot even send them
        if column is not None:
            err = _invalid_value(context, NON_FINITE, column or None)
    if err is None and ctx.is_disconnect:
        err = DatabaseUnavailableError(f"connection to the database was lost: {_short(ctx)}")
    return err


def translate(exc: BaseException, context: _Context | None = None) -> SqlopsError | None:
    """Return the sqlops error for a driver / SQLAlchemy exception, or None."""
    if isinstance(exc, SqlopsError):
        return exc
    orig: BaseException = exc
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        orig = exc.orig
    context = context or _Context()
    if isinstance(orig, sqlite3.Error):
        return _translate_sqlite(orig, context)
    asyncpg_exc = _asyncpg_error(orig) or _psycopg_error(orig)
    if asyncpg_exc is not None:
        return _translate_postgresql(asyncpg_exc, context)
    code = _mysql_code(orig)
    if code is not None:
        return _translate_mysql(code, str(orig.args[1]) if len(orig.args) > 1 else "", context)
    if isinstance(exc, sa_exc.StatementError) and isinstance(
        orig, TypeError | ValueError | ArithmeticError
    ):
        return _named(context, f"a value could not be sent to the database: {_no_values(orig)}")
    if isinstance(orig, OverflowError):  # a driver given an int wider than its column type
        return _named(context, f"a number is too large for the database: {_no_values(orig)}")
    if isinstance(orig, OSError | ConnectionError) and not isinstance(orig, FileNotFoundError):
        return DatabaseUnavailableError(f"cannot reach the database: {orig}")
    return None


def _named(context: _Context, reason: str) -> InvalidValueError:
    """``reason`` for the column of ``context`` it is about, when that can be told."""
    err = _invalid_value(context, reason)
    return err if err.column is not None else InvalidValueError(reason, table=err.table)


def _statement_context(ctx: ExceptionContext) -> _Context:
    exec_ctx = ctx.execution_context
    compiled = getattr(exec_ctx, "compiled", None)
    if compiled is None:
        return _bind_stage_context(ctx)
    statement = compiled.statement
    if getattr(statement, "table", None) is None:  # select(Model).from_statement(insert…)
        statement = getattr(statement, "element", statement)
    table = getattr(statement, "table", None)
    if table is not None and hasattr(table, "_deannotate"):
        table = table._deannotate()  # the ORM passes an annotated copy of the Table
    return _Context(
        table=table if isinstance(table, Table) else None,
        params=getattr(exec_ctx, "compiled_parameters", None) or (),
        positions=getattr(compiled, "positiontup", None) or (),
        is_delete=getattr(statement, "is_delete", False),
        engine=ctx.engine,
    )


# INSERT INTO [schema.]table / UPDATE [schema.]table, each name bare or quoted
_TARGET = re.compile(
    r"^\s*(?:INSERT\s+(?:IGNORE\s+)?INTO|UPDATE)\s+"
    r"(?:([`\"]?)([^\s.`\"]+)\1\.)?([`\"]?)([^\s.`\"(]+)\3",
    re.IGNORECASE,
)


def _bind_stage_context(ctx: ExceptionContext) -> _Context:
    """Failed while binding (no execution context yet): the table from the SQL text.

    The statement's target is looked up among the models' tables, so the translator
    can name the column whose value the bind processor refused.
    """
    found = _TARGET.match(ctx.statement or "")
    raw = ctx.parameters
    params = [raw] if isinstance(raw, Mapping) else list(raw or ())
    params = [p for p in params if isinstance(p, Mapping)]
    if found is None or not params:
        return _Context(engine=ctx.engine)
    schema, name = found.group(2), found.group(4)
    keys = {_strip_suffix(k) for p in params for k in p}
    candidates = [
        t for t in _tables(_Context()) if t.name == name and (schema is None or t.schema == schema)
    ]
    # several models may name a table alike (tests, two apps): the one with those columns
    best = min(candidates, key=lambda t: not keys <= set(t.columns.keys()), default=None)
    return _Context(table=best, params=params, engine=ctx.engine)


class naming_inline:
    """Re-raise an ``InvalidValueError`` of ``statement`` naming its column, if it can.

    A class, not a generator: it wraps every ``SqlopsSession.execute``.
    """

    __slots__ = ("get_bind", "statement")

    def __init__(self, statement: Any, get_bind: Callable[[], Any]) -> None:
        self.statement, self.get_bind = statement, get_bind

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, InvalidValueError):
            named = name_inline_column(exc, self.statement, self.get_bind)
            if named is not exc:
                raise named from exc.__cause__


def name_inline_column(
    exc: InvalidValueError, statement: Any, get_bind: Callable[[], Any]
) -> InvalidValueError:
    """``exc`` naming its column from the values written into ``statement``, if it can.

    Compiled again (the error path only) for its bound values, keyed like the columns.
    """
    statement = getattr(statement, "element", statement)  # select(M).from_statement(dml)
    table = getattr(statement, "table", None) if getattr(statement, "is_dml", False) else None
    if exc.column is not None or not isinstance(table, Table):
        return exc
    try:
        params = statement.compile(dialect=get_bind().dialect).params
    except Exception:
        return exc
    return name_column(exc, _Context(table=table, params=[params]))


def name_column(exc: InvalidValueError, context: _Context) -> InvalidValueError:
    """``exc`` naming the column of ``context`` (its table, its values) it must be about."""
    table = context.table
    if exc.column is not None or table is None:
        return exc
    reason = str(exc).removeprefix("invalid value: ")
    misfit = _misfit(context)
    column, got = misfit if misfit is not None else (None, None)
    if column is None and reason == NON_FINITE:  # a float or a Decimal: no misfit
        column = _non_finite_column(context) or None
    column = column or _guess_bad_column(context)
    if column is None:
        return exc
    suffix = " " + _got(got) if got is not None and "(got a" not in reason else ""
    return InvalidValueError(
        f"{table.name}.{column}: {reason}{suffix}", table=table.name, column=column
    )


def _short(ctx: ExceptionContext) -> str:
    return type(ctx.original_exception).__name__
