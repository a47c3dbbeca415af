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


_BROAD = frozenset({"Exception", "BaseException", "SQLAlchemyError"})
_LEAVES = (ast.Raise, ast.Return, ast.Break)
_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def check(ctx: FileContext) -> Iterator[Hit]:
    """Flag the first session use in a database-error handler that never rolls back."""
    for node in _tries(ctx):
        for handler in node.handlers:
            hits = list(_handler(ctx, node, handler)) if _catches_db_error(handler) else []
            if not hits:
                hits = list(_next_iteration(ctx, node, handler))
            yield from hits


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


def _next_iteration(ctx: FileContext, node: ast.Try, handler: ast.ExceptHandler) -> Iterator[Hit]:
    """Flag a loop whose failed commit is swallowed: the next iteration reuses a dead session.

    ``while True: try: ...; await s.commit() except SQLAlchemyError: log(...)`` —
    every later iteration raises PendingRollbackError.
    """
    if not _catches_db_error(handler) and not _catches_broad(handler):
        return
    loop = _enclosing_loop(ctx, node)
    if loop is None:
        return
    body = [n for stmt in node.body for n in (stmt, *walk_local(stmt))]
    handled = [n for stmt in handler.body for n in (stmt, *walk_local(stmt))]
    if any(isinstance(n, _LEAVES) for n in handled) or any(_is_guarded_block(n) for n in body):
        return
    if any((m := method_call(n)) is not None and m[1] in _RECOVERY for n in handled):
        return
    for n in body:
        split = method_call(n)
        if (
            split is None
            or split[1] not in ("commit", "flush")
            or ctx.kind(split[0]) not in SESSIONS
        ):
            continue
        if _opened_in(loop, split[0]):
            return
        name = key(split[0])
        wait = "await " if ctx.kind(split[0]) is Kind.ASYNC_SESSION else ""
        yield Hit(
            handler,
            f"a failed `{name}.{split[1]}()` is caught here without `{name}.rollback()`, and the "
            "loop goes on: every later iteration raises PendingRollbackError",
            f"call `{wait}{name}.rollback()` in the handler",
        )
        return


def _catches_broad(handler: ast.ExceptHandler) -> bool:
    caught = handler.type
    if caught is None:
        return True
    names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
    return any(terminal(n) in _BROAD for n in names)


def _enclosing_loop(ctx: FileContext, node: ast.AST) -> ast.AST | None:
    for ancestor in ctx.ancestors(node):
        if isinstance(ancestor, _SCOPES):
            return None
        if isinstance(ancestor, _LOOPS):
            return ancestor
    return None


def _opened_in(loop: ast.AST, session: ast.expr) -> bool:
    """Tell whether the loop opens a fresh session each iteration."""
    for n in walk_local(loop):
        bound = n.optional_vars if isinstance(n, ast.withitem) else None
        if bound is not None and key(bound) == key(session):
            return True
        if isinstance(n, ast.Assign) and any(key(t) == key(session) for t in n.targets):
            return True
    return False


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
        held = _held_session(ctx, node)
        if held is not None:
            uses.append((held, ""))
    return uses


def _held_session(ctx: FileContext, call: ast.Call) -> ast.expr | None:
    """Return ``self.session`` when ``self.method()`` works on the session held by ``self``."""
    func = call.func
    if not isinstance(func, ast.Attribute) or not isinstance(func.value, ast.Name):
        return None
    cls = ctx.self_class(func.value.id, ctx.scope_of(call))
    if cls is None:
        return None
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == func.attr:
            for n in walk_local(stmt):
                split = method_call(n)
                if split is None or split[1] not in IO_METHODS:
                    continue
                receiver = split[0]
                if isinstance(receiver, ast.Attribute) and ctx.kind(receiver) in SESSIONS:
                    spelled = ast.Attribute(func.value, receiver.attr, ast.Load())
                    return ast.copy_location(spelled, func)
    return None


RULE = Rule(
    code="SQA009",
    name="use-after-failed-flush",
    summary="`except IntegrityError` (or DBAPIError) keeps using the session without `rollback()`",
    fix="call `await session.rollback()` first, or wrap the write in `begin_nested()`",
    check=check,
    doc=__doc__ or "",
)
