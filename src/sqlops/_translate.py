"""Turn driver errors into the sqlops error tree: one table per backend, one translator.

The kind of error comes from SQLSTATE (PostgreSQL), the server error number (MariaDB /
MySQL) or the extended result code (SQLite) — never from English text where a code
exists. Names (table, columns, constraint) come from the driver's structured fields when
it has them, else from the message, and are completed from the model metadata.

Messages never contain row values or bound parameters: they end up in HTTP responses and
logs. The driver's own exception stays reachable as ``__cause__``.
"""

from __future__ import annotations

import decimal
import math
import re
import sqlite3
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, MetaData, Table
from sqlalchemy import exc as sa_exc
from sqlalchemy import types as sa_types
from sqlalchemy.engine import Engine, ExceptionContext

from . import _catalog
from . import _constraintnames as _names
from ._errors import (
    CheckViolation,
    ConstraintViolation,
    DatabaseUnavailableError,
    ForeignKeyViolation,
    InvalidValueError,
    NotNullViolation,
    PreparedStatementError,
    ReadOnlyTransactionError,
    SqlopsError,
    TransactionAbortedError,
    TransactionConflictError,
    UniqueViolation,
)

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


# ----------------------------------------------------------------------------- entry points


_BIND_ERRORS = (TypeError, ValueError, ArithmeticError, LookupError)


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
    if isinstance(original, _BIND_ERRORS) and ctx.statement:
        # raised while binding a parameter: by a bind processor (a dict for an Enum, a
        # UUID for a Boolean) or by the driver (sqlite3's OverflowError for 2**70)
        if isinstance(original, LookupError):  # an Enum's message starts with the value
            return _invalid_value(context, "not one of the column's allowed values")
        return _invalid_value(context, _no_values(original))
    err = translate(original, context)
    if err is None and ctx.statement:
        column = _non_finite_column(context)  # MariaDB's drivers cannot even send them
        if column is not None:
            err = _invalid_value(context, "NaN and infinity cannot be stored here", column)
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
        return InvalidValueError(f"a value could not be sent to the database: {_no_values(orig)}")
    if isinstance(orig, OverflowError):  # a driver given an int wider than its column type
        return InvalidValueError(f"a number is too large for the database: {_no_values(orig)}")
    if isinstance(orig, OSError | ConnectionError) and not isinstance(orig, FileNotFoundError):
        return DatabaseUnavailableError(f"cannot reach the database: {orig}")
    return None


def _statement_context(ctx: ExceptionContext) -> _Context:
    exec_ctx = ctx.execution_context
    compiled = getattr(exec_ctx, "compiled", None)
    if compiled is None:
        return _Context(engine=ctx.engine)
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


def _short(ctx: ExceptionContext) -> str:
    return type(ctx.original_exception).__name__


# ----------------------------------------------------------------------------- PostgreSQL

_PG_CONSTRAINT = {
    "23505": UniqueViolation,
    "23503": ForeignKeyViolation,
    "23502": NotNullViolation,
    "23514": CheckViolation,
}
_PG_CONFLICT = {"40001", "40P01", "55P03"}
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


def _pg_value_reason(err: Any, state: str, context: _Context) -> tuple[str, str | None]:
    """Why PostgreSQL refused a value and, when the error says, for which column."""
    if state == "22021":
        return "contains a byte sequence PostgreSQL cannot store (a NUL byte \\x00?)", None
    if state == "22000":
        # asyncpg: "invalid input for query argument $2: <value> (<why>)"; keep only the why.
        match = re.match(r"invalid input for query argument \$(\d+)", str(err.args[0]))
        if match and context.positions:
            index = int(match.group(1)) - 1
            if index < len(context.positions):
                name = _strip_suffix(context.positions[index])
                # the why may quote the value ("invalid UUID 'x'"): keep a range error only
                out_of_range = "out of" in str(err.args[0]).rsplit("(", 1)[-1]
                reason = "out of range for the column's type" if out_of_range else "invalid value"
                return reason, _column_named(context, name)
        return "a value has the wrong type for its column", None
    return _no_values(err), getattr(err, "column_name", None)


def _column_named(context: _Context, key: str) -> str | None:
    table = context.table
    if table is None:
        return None
    column = table.columns.get(key)
    return column.name if column is not None else None


# ----------------------------------------------------------------------------- MariaDB / MySQL

_MY_UNIQUE = {1062, 1586, 1557}
_MY_FK = {1451, 1452, 1216, 1217}
_MY_NOT_NULL = {1048, 1364, 1263}
_MY_CHECK = {3819, 4025}
_MY_VALUE = {1406, 1264, 1366, 1292, 1265, 1367, 1690, 3140, 4078}
_MY_CONFLICT = {1213, 1205, 1020}
_MY_READ_ONLY = {1792, 1836}  # a READ ONLY transaction; a server in read-only mode
_MY_UNAVAILABLE = {1040, 1045, 1049, 1053, 1927, 2002, 2003, 2005, 2006, 2013, 2055, 4031}
_MY_QUOTED = re.compile(r"[`'\"]([^`'\"]+)[`'\"]")


def _mysql_code(orig: BaseException) -> int | None:
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    if (
        args
        and isinstance(args[0], int)
        and type(orig).__module__.startswith(("asyncmy", "aiomysql", "pymysql", "MySQLdb"))
    ):
        return args[0]
    return None


def _translate_mysql(code: int, message: str, context: _Context) -> SqlopsError | None:
    table = context.table.name if context.table is not None else None
    if code in _MY_UNIQUE:
        key = message.rsplit(" for key ", 1)[-1].strip("'` ") if " for key " in message else None
        if key and "." in key:  # MySQL 8 says 'users.email'
            table, key = key.rsplit(".", 1)
        return _constraint(
            UniqueViolation, "mysql", (table, None), (), key, "duplicate key", context
        )
    if code in _MY_FK:
        fk = re.search(
            r"\(`[^`]*`\.`(?P<t>[^`]+)`, CONSTRAINT `(?P<c>[^`]+)` FOREIGN KEY \((?P<cols>[^)]*)\)",
            message,
        )
        if fk:
            cols = tuple(c.strip("` ") for c in fk["cols"].split(","))
            detail = (
                "row is still referenced" if code in {1451, 1217} else "referenced row is missing"
            )
            return _constraint(
                ForeignKeyViolation, "mysql", (fk["t"], None), cols, fk["c"], detail, context
            )
        return _constraint(ForeignKeyViolation, "mysql", (table, None), (), None, None, context)
    if code in _MY_NOT_NULL:
        names = _MY_QUOTED.findall(message)
        return _constraint(
            NotNullViolation, "mysql", (table, None), tuple(names[:1]), None, None, context
        )
    if code in _MY_CHECK:
        names = _MY_QUOTED.findall(message)
        ck_table = names[-1] if code == 4025 and len(names) >= 3 else table
        name = names[0] if names else None
        if name and ck_table and name.startswith(f"{ck_table}."):
            name = name[len(ck_table) + 1 :]  # MariaDB: a column-level CHECK is `table.column`
        return _constraint(CheckViolation, "mysql", (ck_table, None), (), name, None, context)
    if code in _MY_VALUE:
        column = re.search(r"for column [`']?(?:[^`' ]+`\.`)*([^`' ]+)[`']? at row", message)
        reason = (
            message.split(":", 1)[0] if code in {1366, 1292} else message.split(" for column")[0]
        )
        return _invalid_value(context, reason.strip(), column.group(1) if column else None)
    if code in _MY_CONFLICT:
        return TransactionConflictError(f"transaction conflict ({code}): {message}")
    if code in _MY_READ_ONLY or (code == 1290 and "read-only" in message):
        return ReadOnlyTransactionError(f"write refused ({code}): {message}")
    if code in _MY_UNAVAILABLE:
        return DatabaseUnavailableError(f"database unavailable ({code}): {message}")
    return None


# ----------------------------------------------------------------------------- SQLite

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


# ----------------------------------------------------------------------------- shared helpers


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


def _no_values(exc: BaseException) -> str:
    """The reason in a driver message, without the value it quotes.

    Messages such as ``invalid input syntax for type integer: "abc"`` or
    ``invalid literal for int() with base 10: 'x'`` put the offending value after a
    colon; messages reach HTTP responses and logs, so everything after it is dropped.
    """
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text.split(":", 1)[0].strip() or type(exc).__name__


def _strip_suffix(bind_name: str) -> str:
    """``email_m3`` (a multi-row VALUES parameter) -> ``email``."""
    return re.sub(r"(_m\d+|_\d+)$", "", bind_name)


def _invalid_value(context: _Context, reason: str, column: str | None = None) -> InvalidValueError:
    """Name the table and the column whose value the database rejected."""
    table = context.table
    column = column or _guess_bad_column(context)
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


def _non_finite_column(context: _Context) -> str | None:
    """The column whose bound value is a NaN or an infinity (float or Decimal), if any."""
    for params in context.params:
        for key, value in params.items():
            if isinstance(value, float) and not math.isfinite(value):
                return _strip_suffix(key)
            if isinstance(value, decimal.Decimal) and not value.is_finite():
                return _strip_suffix(key)
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
