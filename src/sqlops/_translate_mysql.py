"""MariaDB / MySQL (asyncmy, aiomysql, PyMySQL): the server error number."""

from __future__ import annotations

import re
from typing import Any

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
)

_MY_UNIQUE = {1062, 1586, 1557}
_MY_FK = {1451, 1452, 1216, 1217}
_MY_NOT_NULL = {1048, 1364, 1263}
_MY_CHECK = {3819, 4025}
_MY_VALUE = {1406, 1264, 1366, 1292, 1265, 1367, 1690, 3140, 4078, 1241}
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
