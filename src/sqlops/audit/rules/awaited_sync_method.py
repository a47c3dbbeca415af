"""SQA002: ``await`` on a plain (synchronous) method of an async session.

``await session.add(obj)`` awaits ``None`` and raises ``TypeError`` — usually on
the error path nobody tested, after the object was already added.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from sqlops.audit._astutil import method_call
from sqlops.audit._context import FileContext
from sqlops.audit._finding import Hit, Rule
from sqlops.audit._kinds import SYNC_METHODS

_NAMES = frozenset().union(*SYNC_METHODS.values())


def check(ctx: FileContext) -> Iterator[Hit]:
    """Flag ``await`` applied to a method that returns a plain value."""
    for node in ctx.index.nodes(ast.Await):
        split = method_call(node.value)
        if split is None or split[1] not in _NAMES:
            continue
        receiver, method = split
        kind = ctx.kind(receiver)
        if kind is not None and method in SYNC_METHODS.get(kind, ()):
            name = f"{ast.unparse(receiver)}.{method}()"
            yield Hit(
                node,
                f"`{name}` is a plain method of {kind.value}, not a coroutine: awaiting its "
                "return value raises TypeError",
                f"drop the `await`: `{ast.unparse(node.value)}`",
            )


RULE = Rule(
    code="SQA002",
    name="awaited-sync-method",
    summary="`await` applied to a synchronous AsyncSession method (add, expunge, expire, ...)",
    fix="drop the `await`",
    check=check,
    doc=__doc__ or "",
)
