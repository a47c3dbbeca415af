"""SQA009: a session used again in ``except IntegrityError`` without ``rollback()``.

A failed flush leaves the session's transaction inactive. Until ``rollback()``,
every further use raises ``PendingRollbackError`` ("This Session's transaction
has been rolled back due to a previous exception during flush") — so the "look
up the existing row instead" fallback in the handler never works.

Quiet when the handler calls any ``rollback()`` (the session's, a savepoint
handle's), when the failing work ran in ``begin_nested()`` — as a block or a
savepoint opened earlier in the function — or in ``async with session.begin()``
(the block rolled back).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from sqlops.audit._astutil import key, method_call, terminal, walk_local
from sqlops.audit._context import FileContext
from sqlops.audit._finding import Hit, Rule
from sqlops.audit._kinds import IO_METHODS, SESSIONS, Kind

_ERRORS = frozenset(
    {
        "IntegrityError",
        "DBAPIError",
        "DataError",
        "OperationalError",
        "ProgrammingError",
        "InternalError",
        "NotSupportedError",
        "DatabaseError",
    }
)
_RECOVERY = frozenset({"rollback", "close", "invalidate", "reset"})


def check(ctx: FileContext) -> Iterator[Hit]:
    """Flag the first session use in a database-error handler that never rolls back."""
    for node in _tries(ctx):
        for handler in node.handlers:
            if _catches_db_error(handler):
                yield from _handler(ctx, node, handler)


def _tries(ctx: FileContext) -> Iterator[ast.Try]:
    yield from ctx.index.nodes(ast.Try)
    try_star = getattr(ast, "TryStar", None)  # 3.11+, same fields as ast.Try
    if try_star is not None:
        yield from ctx.index.nodes(try_star)


def _catches_db_error(handler: ast.ExceptHandler) -> bool:
    caught = handler.type
    if caught is None:
        return False
    names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
    return any(terminal(n) in _ERRORS for n in names)


def _handler(ctx: FileContext, node: ast.Try, handler: ast.ExceptHandler) -> Iterator[Hit]:
    body = [n for stmt in node.body for n in (stmt, *walk_local(stmt))]
    used_in_try = {key(n) for n in body if isinstance(n, (ast.Name, ast.Attribute))}
    if any(_is_guarded_block(n) for n in body) or _savepoint_before(ctx, node):
        return
    handled = [n for stmt in handler.body for n in (stmt, *walk_local(stmt))]
    if any((m := method_call(n)) is not None and m[1] in _RECOVERY for n in handled):
        return  # rolled back (the session, a savepoint handle, a connection)
    for session, method in _session_uses(ctx, handled):
        name = key(session)
        if name in used_in_try and method in IO_METHODS | {""}:
            wait = "await " if ctx.kind(session) is Kind.ASYNC_SESSION else ""
            yield Hit(
                session,
                f"`{name}` is used after a failed flush without `{name}.rollback()`: the "
                "session is inactive and this raises PendingRollbackError",
                f"call `{wait}{name}.rollback()` first in the handler, or run the failing "
                f"write inside `{'async ' if wait else ''}with {name}.begin_nested():`",
            )
            return


def _is_guarded_block(node: ast.AST) -> bool:
    if isinstance(node, ast.withitem):
        split = method_call(node.context_expr)
        return split is not None and split[1] in ("begin", "begin_nested")
    split = method_call(node)
    return split is not None and split[1] == "begin_nested"


def _savepoint_before(ctx: FileContext, node: ast.AST) -> bool:
    """Tell whether the function opened a savepoint (``begin_nested()``) before this ``try``."""
    function = ctx.function_of(node)
    if function is None:
        return False
    line = getattr(node, "lineno", 0)
    return any(
        (m := method_call(n)) is not None and m[1] == "begin_nested" and n.lineno <= line
        for n in walk_local(function)
        if isinstance(n, ast.Call)
    )


def _session_uses(ctx: FileContext, nodes: list[ast.AST]) -> list[tuple[ast.expr, str]]:
    """Return (session, method) pairs in source order; method is ``""`` when passed on."""
    uses: list[tuple[ast.expr, str]] = []
    for node in sorted(nodes, key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0))):
        if not isinstance(node, ast.Call):
            continue
        split = method_call(node)
        if split is not None and ctx.kind(split[0]) in SESSIONS:
            uses.append((split[0], split[1]))
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            if ctx.kind(arg) in SESSIONS:
                uses.append((arg, ""))
    return uses


RULE = Rule(
    code="SQA009",
    name="use-after-failed-flush",
    summary="`except IntegrityError` (or DBAPIError) keeps using the session without `rollback()`",
    fix="call `await session.rollback()` first, or wrap the write in `begin_nested()`",
    check=check,
    doc=__doc__ or "",
)
