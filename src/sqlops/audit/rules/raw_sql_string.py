"""SQA004: a plain string handed to ``execute()``.

SQLAlchemy 2 no longer coerces strings to SQL: ``session.execute("SELECT 1")``
raises ``ObjectNotExecutableError``. Raw SQL goes through ``text()`` (with bind
parameters) or, on a connection, ``exec_driver_sql()``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from sqlops.audit._astutil import method_call
from sqlops.audit._context import FileContext
from sqlops.audit._finding import Hit, Rule
from sqlops.audit._kinds import EXECUTORS
from sqlops.audit._strings import classify

_METHODS = frozenset({"execute", "scalar", "scalars", "stream", "stream_scalars", "exec"})


def check(ctx: FileContext) -> Iterator[Hit]:
    """Flag string statements passed to a session's or connection's execute methods."""
    for call in ctx.index.calls(*_METHODS):
        split = method_call(call)
        if split is None:
            continue
        statement = _statement(call)
        if statement is None or ctx.kind(split[0]) not in EXECUTORS:
            continue
        if classify(statement, ctx.scope_of(call)):
            name = f"{ast.unparse(split[0])}.{split[1]}()"
            yield Hit(
                statement,
                f"`{name}` is given a plain string: SQLAlchemy 2 does not execute strings "
                "(ObjectNotExecutableError)",
                f'wrap it in text() with bind parameters: `{name[:-1]}text("... :id"), '
                '{"id": value})`',
            )


def _statement(call: ast.Call) -> ast.expr | None:
    if call.args:
        return call.args[0]
    return next((k.value for k in call.keywords if k.arg == "statement"), None)


RULE = Rule(
    code="SQA004",
    name="string-statement",
    summary="A plain string or f-string passed to `execute()` without `text()`",
    fix='wrap the SQL in `text("... :param")` and pass values as parameters',
    check=check,
    doc=__doc__ or "",
)
