"""SQA012: counting rows by fetching them all and calling ``len()``.

``len((await s.execute(select(User))).scalars().all())`` transfers every row and
builds every ORM object just to throw them away; on a big table it is the slowest
query in the service. ``SELECT count(*)`` returns one number.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from sqlops.audit._astutil import method_call, terminal, walk_local
from sqlops.audit._context import FileContext
from sqlops.audit._finding import Hit, Rule
from sqlops.audit._kinds import EXECUTORS

_FETCH_ALL = frozenset({"all", "fetchall"})
_RESULT_STEPS = frozenset({"scalars", "mappings", "tuples", "unique", "query", "filter", "where"})
_EXECUTE = frozenset({"execute", "scalars", "stream", "stream_scalars", "exec", "query"})
_DML = frozenset({"insert", "update", "delete"})


def check(ctx: FileContext) -> Iterator[Hit]:
    """Flag ``len()`` of a freshly fetched result list."""
    for call in ctx.index.calls("len"):
        if len(call.args) != 1 or call.keywords:
            continue
        if _fetched_rows(ctx, call.args[0]):
            yield Hit(
                call,
                "rows are fetched and turned into objects only to be counted with len(): "
                "every row crosses the network",
                "count in SQL: `await session.scalar(select(func.count()).select_from(Model)"
                ".where(...))`",
            )


def _fetched_rows(ctx: FileContext, expr: ast.expr) -> bool:
    if isinstance(expr, ast.Name):  # rows = (await s.scalars(q)).all(); len(rows)
        value = _only_use(ctx, expr)
        return value is not None and _fetched_rows(ctx, value)
    if isinstance(expr, ast.Call) and terminal(expr.func) == "list" and len(expr.args) == 1:
        return _from_executor(ctx, expr.args[0])
    split = method_call(expr)
    return split is not None and split[1] in _FETCH_ALL and _from_executor(ctx, split[0])


def _from_executor(ctx: FileContext, expr: ast.expr) -> bool:
    """Walk back ``.scalars().unique()`` to an ``execute()`` on a session or connection."""
    while True:
        if isinstance(expr, ast.Await):
            expr = expr.value
        if isinstance(expr, ast.Name):
            return _only_counted(ctx, expr)
        split = method_call(expr)
        if split is None:
            return False
        receiver, method = split
        if method in _EXECUTE and ctx.kind(receiver) in EXECUTORS:
            return not _writes(expr)
        if method not in _RESULT_STEPS:
            return False
        expr = receiver


def _writes(call: ast.expr) -> bool:
    """Tell whether the executed statement is a DML ``... RETURNING`` (its rows are the count)."""
    statement = call.args[0] if isinstance(call, ast.Call) and call.args else None
    while isinstance(statement, ast.Call):
        if terminal(statement.func) in _DML:
            return True
        if not isinstance(statement.func, ast.Attribute):
            return False
        statement = statement.func.value  # delete(X).where(...).returning(...)
    return False


def _only_counted(ctx: FileContext, name: ast.Name) -> bool:
    """Follow ``result = await s.execute(q)`` when ``result`` serves only this count."""
    value = _only_use(ctx, name)
    return value is not None and _from_executor(ctx, value)


def _only_use(ctx: FileContext, name: ast.Name) -> ast.expr | None:
    """Return the value a variable was assigned once, if this is its only use."""
    scope = ctx.scope_of(name)
    bindings = scope.bindings.get(name.id, [])
    if len(bindings) != 1 or bindings[0].how != "assign" or bindings[0].value is None:
        return None
    loads = [
        n
        for n in walk_local(scope.node)
        if isinstance(n, ast.Name) and n.id == name.id and isinstance(n.ctx, ast.Load)
    ]
    return bindings[0].value if loads == [name] else None


RULE = Rule(
    code="SQA012",
    name="count-by-len",
    summary="`len(result.scalars().all())` and similar used to count rows",
    fix="use `select(func.count())` and `session.scalar()`",
    check=check,
    doc=__doc__ or "",
    in_tests=False,
)
