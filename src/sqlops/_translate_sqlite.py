"""SQLite (sqlite3, aiosqlite): the extended result code."""

from __future__ import annotations

import re
import sqlite3

from . import _constraintnames as _names
from ._errors import (
    CheckViolation,
    DatabaseUnavailableError,
    ForeignKeyViolation,
    NotNullViolation,
    ReadOnlyTransactionError,
    SqlopsError,
    TransactionConflictError,
    UniqueViolation,
)
from ._translate_common import (
    _constraint,
    _Context,
    _invalid_value,
    _name,
    _tables,
)

_SQLITE_UNIQUE = {2067, 1555}
_SQLITE_CONFLICT = {5, 6, 261, 262, 517, 773}
_SQLITE_BY_PREFIX = (
    ("UNIQUE constraint failed", 2067),
    ("FOREIGN KEY constraint failed", 787),
    ("NOT NULL constraint failed", 1299),
    ("CHECK constraint failed", 275),
    ("database is locked", 5),
    ("database table is locked", 6),
    ("attempt to write a readonly database", 8),
    ("unable to open database", 14),
)


def _translate_sqlite(err: sqlite3.Error, context: _Context) -> SqlopsError | None:
    message = str(err.args[0]) if err.args else ""
    code = getattr(err, "sqlite_errorcode", None) or next(
        (c for prefix, c in _SQLITE_BY_PREFIX if message.startswith(prefix)), None
    )
    if code is None:
        # Python 3.11+: ProgrammingError "Error binding parameter 2: type 'list' is not
        # supported"; 3.10: InterfaceError "Error binding parameter 2 - probably unsupported type."
        binding = isinstance(err, (sqlite3.ProgrammingError, sqlite3.InterfaceError))
        if binding and message.startswith("Error binding"):
            return _invalid_value(context, "a value of a type SQLite cannot store")
        return None
    target = message.split(": ", 1)[1] if ": " in message else ""
    if code in _SQLITE_UNIQUE:
        pairs = [p.strip().split(".", 1) for p in target.split(",") if "." in p]
        table = pairs[0][0] if pairs else None
        columns = tuple(p[1] for p in pairs)
        index = re.fullmatch(r"index '(.+)'", target)  # a unique index on an expression
        return _constraint(
            UniqueViolation, "sqlite", (table, None), columns, index and index[1], None, context
        )
    if code == 1299:
        table, _, column = target.partition(".")
        return _constraint(
            NotNullViolation, "sqlite", (table or None, None), (column,), None, None, context
        )
    if code == 275:
        return _sqlite_check(target, context)
    if code == 787:
        return _sqlite_foreign_key(context)
    if code in _SQLITE_CONFLICT:
        return TransactionConflictError(f"database is locked (SQLite code {code})")
    if code & 0xFF == 8:  # SQLITE_READONLY: PRAGMA query_only, or a read-only file
        return ReadOnlyTransactionError(f"write refused (SQLite code {code}): {message}")
    if code in {14, 10, 26}:
        return DatabaseUnavailableError(f"cannot open the SQLite database: {message}")
    if code in {18, 20, 3091}:
        return _invalid_value(context, message)
    return None


def _sqlite_check(target: str, context: _Context) -> SqlopsError:
    """SQLite names a named CHECK, and quotes the SQL text of an unnamed one."""
    tables = list(_tables(context))
    known = _names.find(tables, "sqlite", target, None, None) if target else None
    if known is None and target:
        known = _names.check_by_text(tables, target)
    if known is None and target and context.table is not None:
        # a CHECK on a quoted column ("Age" >= 0) is reported by that column's name only
        known = _names.check_on_column([context.table], target)
    if known is None:
        table = context.table.name if context.table is not None else None
        return CheckViolation(table=table, detail=f"CHECK ({target}) failed" if target else None)
    return CheckViolation(
        table=known.table.name,
        schema=known.table.schema,
        columns=known.columns,
        constraint=known.declared,
        detail=None if known.declared else f"CHECK ({target}) failed",
    )


def _sqlite_foreign_key(context: _Context) -> SqlopsError:
    """Name the foreign key SQLite did not name, from the statement's table."""
    table = context.table
    if table is None:
        return ForeignKeyViolation("foreign key violation", detail="FOREIGN KEY constraint failed")
    if context.is_delete:
        refs = [
            fk
            for t in table.metadata.tables.values()
            for fk in t.foreign_key_constraints
            if fk.referred_table is table
        ]
        detail = "row is still referenced"
    else:
        refs = list(table.foreign_key_constraints)
        detail = "referenced row is missing"
        # SET parameters carry the column key as is; WHERE ones get a suffix (team_id_1)
        setting = {k for params in context.params for k in params}
        touched = [fk for fk in refs if any(c.key in setting for c in fk.columns)]
        refs = touched or refs  # an UPDATE names only the foreign keys it sets
    if len(refs) == 1:
        fk = refs[0]
        return ForeignKeyViolation(
            table=fk.table.name,
            columns=[c.name for c in fk.columns],
            constraint=_name(fk.name),
            detail=detail,
        )
    # SQLite does not say which of several foreign keys failed: list the candidates.
    candidates = " or ".join(f"{fk.table.name}.{c.name}" for fk in refs for c in fk.columns)
    return ForeignKeyViolation(
        table=None if context.is_delete else table.name,
        columns=() if context.is_delete else [c.name for fk in refs for c in fk.columns],
        detail=f"{detail} ({candidates}; SQLite does not say which)",
    )
