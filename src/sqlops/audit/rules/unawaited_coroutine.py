"""SQA001: an async session coroutine method called without ``await``.

``db.delete(obj)`` in an async route creates a coroutine and drops it: the row
survives, and Python only prints "coroutine was never awaited" to stderr.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from sqlops.audit._astutil import method_call, terminal, walk_local
from sqlops.audit._context import FileContext
from sqlops.audit._finding import Hit, Rule
from sqlops.audit._kinds import COROUTINE_METHODS, STARTABLE_METHODS, Kind

_NAMES = frozenset().union(*COROUTINE_METHODS.values()) | STARTABLE_METHODS
_STARTABLE_ON = frozenset({Kind.ASYNC_SESSION, Kind.ASYNC_CONNECTION})
_CONSEQUENCES = {
    "delete": "the row is not deleted",
    "commit": "nothing is committed",
    "rollback": "nothing is rolled back",
    "flush": "nothing is flushed",
    "refresh": "the object is not refreshed",
    "merge": "nothing is merged",
    "close": "the connection is not returned to the pool",
    "dispose": "the pool is not disposed",
}
_MISUSE_TESTS = (ast.If, ast.While, ast.IfExp, ast.Assert)
_CONSUMERS = frozenset({"list", "len", "sorted", "set", "tuple", "bool", "dict", "iter", "next"})
_TRANSPARENT = frozenset({"cast"})


def check(ctx: FileContext) -> Iterator[Hit]:
    """Flag coroutine calls whose result is dropped or used as if it were the result."""
    for call in ctx.index.calls(*_NAMES):
        split = method_call(call)
        if split is None:
            continue
        receiver, method = split
        kind = ctx.kind(receiver)
        if kind is None and ctx.used_as_session(receiver):
            kind = Kind.ASYNC_SESSION  # untyped, but awaited like one
        if kind is None:
            continue
        if method in COROUTINE_METHODS.get(kind, ()):
            if _wasted(ctx, call):
                yield _hit(call, receiver, method)
        elif (
            method in STARTABLE_METHODS
            and kind in _STARTABLE_ON
            and isinstance(ctx.parent(call), ast.Expr)
        ):
            yield _hit(call, receiver, method)


def _hit(call: ast.Call, receiver: ast.expr, method: str) -> Hit:
    name = f"{ast.unparse(receiver)}.{method}()"
    if method in STARTABLE_METHODS:
        return Hit(
            call,
            f"`{name}` on its own starts nothing: it returns an awaitable transaction "
            "that has to be used with `async with` or `await`",
            f"write `async with {name}:` around the work",
        )
    consequence = _CONSEQUENCES.get(method, "the statement never runs")
    return Hit(
        call,
        f"`{name}` is a coroutine and is not awaited: {consequence}, "
        "and Python only warns 'coroutine was never awaited' at run time",
        f"write `await {name[:-1]}...)`",
    )


def _wasted(ctx: FileContext, call: ast.Call) -> bool:
    """Tell whether the coroutine is certainly never awaited."""
    node: ast.AST = call
    parent = ctx.parent(call)
    while _is_transparent(parent, node):  # typing.cast(Result, session.execute(q))
        assert parent is not None
        node, parent = parent, ctx.parent(parent)
    if isinstance(parent, ast.Assign):
        target = parent.targets[0]
        if len(parent.targets) == 1 and isinstance(target, ast.Name):
            return _never_awaited(ctx, call, target.id)
        return False
    if isinstance(parent, ast.Return) and ctx.in_async_body(parent):
        return True  # the caller awaits this coroutine and gets another coroutine
    return parent is not None and _misused(parent, node)


def _is_transparent(parent: ast.AST | None, child: ast.AST) -> bool:
    return (
        isinstance(parent, ast.Call)
        and terminal(parent.func) in _TRANSPARENT
        and bool(parent.args)
        and parent.args[-1] is child
    )


def _misused(parent: ast.AST, child: ast.AST) -> bool:
    """Tell whether ``parent`` uses ``child`` as a plain value (not passing it on)."""
    if isinstance(parent, ast.Expr):
        return True
    if isinstance(parent, ast.Call) and child in parent.args:
        return isinstance(parent.func, ast.Name) and parent.func.id in _CONSUMERS
    if isinstance(parent, (ast.Attribute, ast.Subscript)):
        return parent.value is child
    if isinstance(parent, (ast.For, ast.comprehension)):
        return parent.iter is child
    if isinstance(parent, _MISUSE_TESTS):
        return parent.test is child
    if isinstance(parent, ast.UnaryOp):
        return isinstance(parent.op, ast.Not)
    return isinstance(parent, (ast.BoolOp, ast.Compare, ast.FormattedValue))


def _never_awaited(ctx: FileContext, call: ast.Call, name: str) -> bool:
    """Follow ``x = session.execute(...)``: true when ``x`` is used as a result first.

    ``if not x:`` before ``await x`` already went wrong; a variable that is only
    awaited or passed on (to ``gather``, say) later is fine.
    """
    scope = ctx.scope_of(call).node
    after = (call.lineno, call.col_offset)
    loads = [
        node
        for node in walk_local(scope)
        if isinstance(node, ast.Name)
        and node.id == name
        and isinstance(node.ctx, ast.Load)
        and (node.lineno, node.col_offset) > after
    ]
    if not loads:
        return True
    return _misused_load(ctx, min(loads, key=lambda n: (n.lineno, n.col_offset)))


def _misused_load(ctx: FileContext, node: ast.Name) -> bool:
    parent = ctx.parent(node)
    return parent is not None and _misused(parent, node)


RULE = Rule(
    code="SQA001",
    name="unawaited-session-coroutine",
    summary="An AsyncSession/AsyncConnection coroutine method is called without `await`",
    fix="put `await` before the call",
    check=check,
    doc=__doc__ or "",
)
