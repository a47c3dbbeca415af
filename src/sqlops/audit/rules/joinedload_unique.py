"""SQA010: ``joinedload()`` of a collection whose result is not ``.unique()``d.

A joined eager load of a collection repeats the parent row once per child.
SQLAlchemy 2 refuses to guess: ``.all()``, ``.one()``, ``scalar_one()`` and
iteration raise ``InvalidRequestError: The unique() method must be invoked on
this Result``. (``session.get()``, ``session.scalar()`` and ``.first()`` are
fine, and so is ``selectinload()``, which needs no de-duplication.)

A relationship counts as a collection when a scanned file declares it as
``Mapped[list[...]]``/``Mapped[set[...]]``, ``relationship(uselist=True)`` or a
SQLModel ``list[...] = Relationship()``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from sqlops.audit._astutil import method_call, terminal, walk_local
from sqlops.audit._context import FileContext
from sqlops.audit._finding import Hit, Rule
from sqlops.audit._kinds import EXECUTORS

_LOADERS = frozenset(
    {"joinedload", "selectinload", "subqueryload", "lazyload", "defaultload", "immediateload"}
)
_EXECUTE = frozenset({"execute", "scalars", "stream", "stream_scalars", "exec"})
_FAILING = frozenset(
    {"all", "one", "one_or_none", "scalar_one", "scalar_one_or_none", "fetchall", "partitions"}
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
        local = list(walk_local(function))
        if any(isinstance(n, ast.Call) and terminal(n.func) == "unique" for n in local):
            continue
        if _executed_and_listed(ctx, local, _statement_names(ctx, call, local)):
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


def _statement_names(ctx: FileContext, call: ast.Call, local: list[ast.AST]) -> set[ast.AST | str]:
    """Return the expressions and names that end up holding the option.

    Follows the option through lists (``opts.append(joinedload(...))``,
    ``.options(*opts)``) and statements built over several assignments.
    """
    found: set[ast.AST | str] = set()
    for ancestor in ctx.ancestors(call):
        if isinstance(ancestor, ast.stmt):
            found.update(_assigned(ancestor))
            break
        found.add(ancestor)
    statements = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr)
    assigns: list[ast.stmt] = [n for n in local if isinstance(n, statements)]
    for _ in range(4):
        grown = set(found)
        for stmt in assigns:
            if any(isinstance(n, ast.Name) and n.id in found for n in ast.walk(stmt)):
                grown.update(_assigned(stmt))
        if grown == found:
            break
        found = grown
    return found


def _assigned(stmt: ast.stmt) -> set[str]:
    """Return the names a statement stores into (``x = ...``, ``opts.append(...)``)."""
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    elif isinstance(stmt, ast.Expr) and (split := method_call(stmt.value)) is not None:
        targets = [split[0]] if split[1] in ("append", "extend", "insert") else []
    else:
        targets = []
    return {t.id for t in targets if isinstance(t, ast.Name)}


def _executed_and_listed(
    ctx: FileContext, local: list[ast.AST], holders: set[ast.AST | str]
) -> bool:
    for node in local:
        split = method_call(node)
        if split is None or split[1] not in _EXECUTE or not isinstance(node, ast.Call):
            continue
        statement = node.args[0] if node.args else None
        if statement is None:
            continue
        runs_it = statement in holders or (
            isinstance(statement, ast.Name) and statement.id in holders
        )
        executor = ctx.kind(split[0]) in EXECUTORS or ctx.used_as_session(split[0])
        if runs_it and executor and _fails(ctx, node, local):
            return True
    return False


def _fails(ctx: FileContext, node: ast.AST, local: list[ast.AST], depth: int = 0) -> bool:
    """Follow the result: does it reach ``.all()``/``.one()``/iteration?"""
    parent = ctx.parent(node)
    if isinstance(parent, ast.Await):
        node, parent = parent, ctx.parent(parent)
    while isinstance(parent, ast.Attribute) and isinstance(ctx.parent(parent), ast.Call):
        if parent.attr in _FAILING:
            return True
        if parent.attr not in ("scalars", "mappings", "tuples"):
            return False
        node = ctx.parent(parent)  # type: ignore[assignment]
        parent = ctx.parent(node)
    if isinstance(parent, ast.Assign) and depth == 0:
        names = {t.id for t in parent.targets if isinstance(t, ast.Name)}
        uses = [n for n in local if isinstance(n, ast.Name) and n.id in names]
        return any(_fails(ctx, use, local, 1) for use in uses if isinstance(use.ctx, ast.Load))
    return isinstance(parent, (ast.For, ast.AsyncFor, ast.comprehension)) or (
        isinstance(parent, ast.Call) and terminal(parent.func) in ("list", "tuple", "set")
    )


RULE = Rule(
    code="SQA010",
    name="joinedload-without-unique",
    summary="`joinedload()` of a collection relationship whose result is not `.unique()`d",
    fix="call `.unique()` on the result, or use `selectinload()`",
    check=check,
    doc=__doc__ or "",
)
