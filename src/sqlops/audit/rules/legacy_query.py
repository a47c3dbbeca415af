"""SQA003: ``session.query(...)`` on an ``AsyncSession``.

The 1.x ``Query`` API exists only on the sync ``Session``; an ``AsyncSession`` has
no ``query`` attribute, so the call raises ``AttributeError`` at run time. Code
passed to ``run_sync()`` receives a sync session and may use it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from sqlops.audit._astutil import method_call
from sqlops.audit._context import FileContext
from sqlops.audit._finding import Hit, Rule
from sqlops.audit._kinds import Kind


def check(ctx: FileContext) -> Iterator[Hit]:
    """Flag ``.query()`` called on a known AsyncSession outside ``run_sync`` callbacks."""
    sync_callbacks: set[ast.AST] | None = None
    for call in ctx.index.calls("query"):
        split = method_call(call)
        if split is None or ctx.kind(split[0]) is not Kind.ASYNC_SESSION:
            continue
        if sync_callbacks is None:
            sync_callbacks = _run_sync_callbacks(ctx)
        if not any(a in sync_callbacks for a in ctx.ancestors(call)):
            receiver = ast.unparse(split[0])
            yield Hit(
                call,
                f"`{receiver}.query()`: AsyncSession has no 1.x Query API, so this raises "
                "AttributeError",
                f"use `await {receiver}.scalars(select(Model).where(...))`",
            )


def _run_sync_callbacks(ctx: FileContext) -> set[ast.AST]:
    """Return the functions and lambdas handed to ``run_sync()`` (they get a sync Session)."""
    names: set[str] = set()
    found: set[ast.AST] = set()
    for call in ctx.index.calls("run_sync"):
        split = method_call(call)
        if split is None or not call.args:
            continue
        target = call.args[0]
        if isinstance(target, ast.Lambda):
            found.add(target)
        elif isinstance(target, (ast.Name, ast.Attribute)):
            names.add(target.id if isinstance(target, ast.Name) else target.attr)
    found.update(f for f in ctx.index.functions() if f.name in names)
    return found


RULE = Rule(
    code="SQA003",
    name="query-on-async-session",
    summary="`session.query()` used on an AsyncSession (the legacy Query API is sync-only)",
    fix="use `await session.scalars(select(...))`, or move the code into `run_sync()`",
    check=check,
    doc=__doc__ or "",
)
