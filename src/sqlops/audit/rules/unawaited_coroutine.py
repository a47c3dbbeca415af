"""SQA001: an async session coroutine method called without ``await``.

``db.delete(obj)`` in an async route creates a coroutine and drops it: the row
survives, and Python only prints "coroutine was never awaited" to stderr.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from sqlops.audit._astutil import method_call, walk_local
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


def check(ctx: FileContext) -> Iterator[Hit]:
    """Flag coroutine calls whose result is dropped or used as if it were the result."""
    for call in ctx.index.calls(*_NAMES):
        split = method_call(call)
        if split is None:
            continue
        receiver, method = split
        kind = ctx.kind(receiver)
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
    parent = ctx.parent(call)
    if isinstance(parent, ast.Assign):
        target = parent.targets[0]
        if len(parent.targets) == 1 and isinstance(target, ast.Name):
            return _never_awaited(ctx, call, target.id)
        return False
    return parent is not None and _misused(parent, call)


def _misused(parent: ast.AST, child: ast.AST) -> bool:
    """Tell whether ``parent`` uses ``child`` as a plain value (not passing it on)."""
    if isinstance(parent, ast.Expr):
        return True
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
    """Follow ``x = session.execute(...)``: true only if ``x`` is never awaited or passed on."""
    scope = ctx.scope_of(call).node
    for node in walk_local(scope):
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
            parent = ctx.parent(node)
            if parent is None or not _misused(parent, node):
                return False
    return True


RULE = Rule(
    code="SQA001",
    name="unawaited-session-coroutine",
    summary="An AsyncSession/AsyncConnection coroutine method is called without `await`",
    fix="put `await` before the call",
    check=check,
    doc=__doc__ or "",
)
