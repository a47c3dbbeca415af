"""SQA010: ``joinedload()`` of a collection whose result is not ``.unique()``d.

A joined eager load of a collection repeats the parent row once per child.
SQLAlchemy 2 refuses to guess: ``.all()``, ``.one()``, ``scalar_one()`` and
iteration raise ``InvalidRequestError: The unique() method must be invoked on
this Result`` — and so do ``fetchone()``/``fetchmany()`` and
``scalar_one_or_none()``. (``session.get()``, ``scalar()`` and ``.first()`` read
one row without the uniquing filter and are fine, and so is ``selectinload()``.)
The statement is followed through option lists, chained options, several
assignments and helper functions that execute and list a statement they are
given (``await paginate(session, stmt)``, in any scanned file).

A relationship counts as a collection when a scanned file declares it as
``Mapped[list[...]]``/``Mapped[set[...]]``, ``relationship(uselist=True)`` or a
SQLModel ``list[...] = Relationship()``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from sqlops.audit._astutil import terminal
from sqlops.audit._context import FileContext
from sqlops.audit._finding import Hit, Rule
from sqlops.audit._statements import Body, assigned, grow, listed

_LOADERS = frozenset(
    {"joinedload", "selectinload", "subqueryload", "lazyload", "defaultload", "immediateload"}
)


def check(ctx: FileContext) -> Iterator[Hit]:
    """Flag joined collection loads executed in a function that never calls ``unique()``."""
    if not ctx.project.collections:
        return
    for call in ctx.index.calls(*_LOADERS):
        if _chained_further(ctx, call):
            continue
        joined = _joined_collection(ctx, call)
        if joined is None:
            continue
        function = ctx.function_of(call)
        if function is None:
            continue
        body = Body(function)
        if body.uniques:
            continue
        if listed(ctx, body, _statement_names(ctx, call, body)):
            path = ast.unparse(joined.args[0])
            yield Hit(
                call,
                f"`joinedload({path})` loads a collection: the result repeats each parent "
                "row and `.all()`/`.one()` raise InvalidRequestError until `.unique()` is called",
                "call `.unique()` on the result (`(await s.scalars(stmt)).unique().all()`), "
                "or use `selectinload()`",
            )


def _chained_further(ctx: FileContext, call: ast.Call) -> bool:
    """Tell whether another loader is chained on (that one is checked instead)."""
    parent = ctx.parent(call)
    return (
        isinstance(parent, ast.Attribute)
        and parent.attr in _LOADERS
        and isinstance(ctx.parent(parent), ast.Call)
    )


def _joined_collection(ctx: FileContext, call: ast.Call) -> ast.Call | None:
    """Walk a loader chain (``selectinload(A.b).joinedload(B.c)``) for a joined collection."""
    node: ast.expr | None = call
    while isinstance(node, ast.Call):
        attr = node.args[0] if node.args else None
        if (
            terminal(node.func) == "joinedload"
            and isinstance(attr, ast.Attribute)
            and isinstance(attr.value, (ast.Name, ast.Attribute))
            and (terminal(attr.value), attr.attr) in ctx.project.collections
        ):
            return node
        node = node.func.value if isinstance(node.func, ast.Attribute) else None
    return None


def _statement_names(ctx: FileContext, call: ast.Call, body: Body) -> set[ast.AST | str]:
    """Return the expressions and names that end up holding the option."""
    found: set[ast.AST | str] = set()
    for ancestor in ctx.ancestors(call):
        if isinstance(ancestor, ast.stmt):
            found.update(assigned(ancestor))
            break
        found.add(ancestor)
    return grow(found, body)


RULE = Rule(
    code="SQA010",
    name="joinedload-without-unique",
    summary="`joinedload()` of a collection relationship whose result is not `.unique()`d",
    fix="call `.unique()` on the result, or use `selectinload()`",
    check=check,
    doc=__doc__ or "",
)
