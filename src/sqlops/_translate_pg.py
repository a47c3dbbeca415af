"""PostgreSQL (asyncpg, psycopg): SQLSTATE and the driver's structured fields."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ._errors import (
    CheckViolation,
    ConstraintViolation,
    DatabaseUnavailableError,
    ForeignKeyViolation,
    NotNullViolation,
    PreparedStatementError,
    ReadOnlyTransactionError,
    SqlopsError,
    TransactionAbortedError,
    TransactionConflictError,
    UniqueViolation,
)
from ._translate_common import (
    _constraint,
    _Context,
    _invalid_value,
    _no_values,
    _strip_suffix,
    column_holding,
    quoted_value,
)

_PG_CONSTRAINT = {
    "23505": UniqueViolation,
    "23503": ForeignKeyViolation,
    "23502": NotNullViolation,
    "23514": CheckViolation,
}
_PG_CONFLICT = {"40001", "40P01", "55P03"}
_PG_WRONG_TYPE = {
    "42804": "the value's type does not match the column's",  # datatype_mismatch
    "42846": "the value cannot be converted to the column's type",  # cannot_coerce
}
_PG_PREPARED = {"26000", "42P05"}  # prepared statement does not exist / already exists
_PG_UNAVAILABLE_CLASSES = ("08", "53", "57")
_PG_KEY = re.compile(
    r"^Key \((?P<cols>.+?)\)=\(.*\) (?P<rest>already exists\.?|is not present in table .*|"
    r"is still referenced from table .*)$",
    re.DOTALL,
)


def _asyncpg_error(orig: BaseException) -> Any:
    """Return the asyncpg ``PostgresError`` behind SQLAlchemy's adapter exception, if any."""
    for candidate in (orig, orig.__cause__):
        if (
            candidate is not None
            and hasattr(candidate, "sqlstate")
            and hasattr(candidate, "constraint_name")
        ):
            return candidate
    return None


@dataclass(frozen=True)
class _PgFields:
    """A psycopg (3) error's diagnostics under asyncpg's attribute names."""

    sqlstate: str
    schema_name: str | None
    table_name: str | None
    column_name: str | None
    constraint_name: str | None
    detail: str | None
    args: tuple[str, ...]


def _psycopg_error(orig: BaseException) -> _PgFields | None:
    """The fields of a psycopg error that carries a SQLSTATE (the sync twin's driver)."""
    diag = getattr(orig, "diag", None)
    state = getattr(orig, "sqlstate", None)
    if diag is None or not type(orig).__module__.startswith("psycopg"):
        return None
    if not state and "NUL (0x00)" in str(orig):  # refused by psycopg itself: no code
        state = "22021"
    if not state and str(orig).startswith("cannot adapt type"):  # a dict, an object
        state = "22000"
    if not state:
        return None
    return _PgFields(
        sqlstate=state,
        schema_name=diag.schema_name,
        table_name=diag.table_name,
        column_name=diag.column_name,
        constraint_name=diag.constraint_name,
        detail=diag.message_detail,
        args=(diag.message_primary or str(orig),),
    )


def _translate_postgresql(err: Any, context: _Context) -> SqlopsError | None:
    state: str = err.sqlstate or ""
    table_name = err.table_name or (context.table.name if context.table is not None else None)
    if state in _PG_CONSTRAINT:
        columns, detail = _pg_detail(err.detail or "")
        if err.column_name:
            columns = (err.column_name,)
        return _constraint(
            _PG_CONSTRAINT[state],
            "postgresql",
            (table_name, err.schema_name),
            columns,
            err.constraint_name,
            detail,
            context,
        )
    if state.startswith("23"):
        return _constraint(
            ConstraintViolation,
            "postgresql",
            (table_name, err.schema_name),
            (),
            err.constraint_name,
            None,
            context,
        )
    if state in _PG_CONFLICT:
        return TransactionConflictError(f"transaction conflict ({state}): {err.args[0]}")
    if state == "25P02":  # in_failed_sql_transaction: an earlier error ended it
        return TransactionAbortedError(
            "current transaction is aborted by an earlier error: roll back, or run the "
            "statement that may fail in `async with db.savepoint(session):`"
        )
    if state in _PG_PREPARED:
        return PreparedStatementError(
            f"{err.args[0]} ({state}): behind PgBouncer in transaction mode use "
            'Database(url, pooler="pgbouncer") (or PgBouncer >= 1.21 with '
            "max_prepared_statements > 0); `sqlops doctor` checks it"
        )
    if state == "25006":  # read_only_sql_transaction: readonly=True, or a hot standby
        return ReadOnlyTransactionError(f"write refused ({state}): {err.args[0]}")
    if state.startswith("22"):
        reason, column = _pg_value_reason(err, state, context)
        return _invalid_value(context, reason, column)
    if state in _PG_WRONG_TYPE:  # a value the driver sent as another type (a list, a date)
        found = re.match(r'column "([^"]+)" is of type', str(err.args[0]))
        column = _column_named(context, found.group(1)) if found else None
        return _invalid_value(context, _PG_WRONG_TYPE[state], column)
    if state.startswith(_PG_UNAVAILABLE_CLASSES) or state in {"3D000", "28000", "28P01"}:
        return DatabaseUnavailableError(f"database unavailable ({state}): {err.args[0]}")
    return None


def _pg_detail(detail: str) -> tuple[tuple[str, ...], str | None]:
    """The columns in ``Key (a, b)=(…) already exists.`` and the detail without values.

    The columns of "is still referenced from table" are the *referenced* table's, so they
    are left to the constraint's metadata (the referencing columns).
    """
    match = _PG_KEY.match(detail.strip())
    if not match:
        return (), None
    rest = match["rest"].rstrip(".")
    summary = f"Key ({match['cols']}) {rest}"
    if rest.startswith("is still referenced"):
        return (), summary
    return tuple(c.strip().strip('"') for c in match["cols"].split(",")), summary


_ARGUMENT = re.compile(r"invalid input for query argument \$(\d+)")


def _pg_value_reason(err: Any, state: str, context: _Context) -> tuple[str, str | None]:
    """Why PostgreSQL refused a value and, when the error says, for which column."""
    if state == "22021":
        return "contains a byte sequence PostgreSQL cannot store (a NUL byte \\x00?)", None
    if state == "22000":
        # asyncpg: "invalid input for query argument $2: <value> (<why>)"; keep only the why.
        text = str(err.args[0])
        # the why may quote the value ("invalid UUID 'x'"): keep a range error only
        out_of_range = "out of" in text.rsplit("(", 1)[-1]
        reason = "out of range for the column's type" if out_of_range else "invalid value"
        match = _ARGUMENT.search(text)
        column = None
        if match and context.positions:  # the statement's own parameter order
            index = int(match.group(1)) - 1
            if index < len(context.positions):
                column = _column_named(context, _strip_suffix(context.positions[index]))
        # executemany (no positions), or a name we cannot map: the value it quotes
        column = column or column_holding(context, quoted_value(err))
        if match or column:
            return reason, column
        return "a value has the wrong type for its column", None
    column = getattr(err, "column_name", None) or column_holding(context, quoted_value(err))
    return _no_values(err), column


def _column_named(context: _Context, key: str) -> str | None:
    table = context.table
    if table is None:
        return None
    column = table.columns.get(key)
    return column.name if column is not None else None
