"""Follow a statement (or its loader options) to where it runs and how its rows are read.

SQA010 asks one question of a ``joinedload()`` of a collection: is the statement
that carries it executed and its result listed (``.all()``, ``.one()``, iteration)
without ``.unique()``? The statement may be built over several assignments, its
options gathered in a list, and it may be executed by a helper function —
``await paginate(session, stmt)`` — in another file. `sink_params` says which
parameters of a function are such statements, so that a call handing a statement
to that function counts as listing it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from sqlops.audit._astutil import method_call, terminal, walk_local
from sqlops.audit._context import FileContext
from sqlops.audit._index import FunctionNode
from sqlops.audit._kinds import EXECUTORS

EXECUTE = frozenset({"execute", "scalars", "stream", "stream_scalars", "exec"})
# Checked against SQLAlchemy's ``_only_one_row``: ``first()`` and ``scalar()`` read one
# row without the uniquing filter (the ORM has already loaded every row); these apply it.
FAILING = frozenset(
    {"all", "one", "one_or_none", "scalar_one", "scalar_one_or_none", "fetchall", "fetchone"}
    | {"fetchmany", "partitions"}
)
_STATEMENTS = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr)


@dataclass(frozen=True)
class Sink:
    """Describe a function that executes and lists some of its parameters' statements."""

    positional: tuple[str, ...]  # parameter names in call order (``self`` left out)
    params: frozenset[str]


def grow(found: set[ast.AST | str], local: list[ast.AST]) -> set[ast.AST | str]:
    """Add the names that statements built from ``found`` are stored into.

    ``stmt = stmt.options(*opts)``, ``opts.append(joinedload(...))``, ``q = select(X)``
    followed by ``q = q.where(...)``.
    """
    assigns = [n for n in local if isinstance(n, _STATEMENTS) and not _awaits(n)]
    for _ in range(4):
        grown = set(found)
        for stmt in assigns:
            if any(isinstance(n, ast.Name) and n.id in found for n in ast.walk(stmt)):
                grown.update(assigned(stmt))
        if grown == found:
            break
        found = grown
    return found


def _awaits(stmt: ast.AST) -> bool:
    """Tell whether a statement awaits: what it stores is a result, not a statement."""
    return any(isinstance(n, ast.Await) for n in ast.walk(stmt))


def assigned(stmt: ast.stmt) -> set[str]:
    """Return the names a statement stores into (``x = ...``, ``opts.append(...)``).

    Nothing when it awaits (``swap = await plan(options=[...])`` stores a result).
    """
    if _awaits(stmt):
        return set()
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    elif isinstance(stmt, ast.Expr) and (split := method_call(stmt.value)) is not None:
        targets = [split[0]] if split[1] in ("append", "extend", "insert") else []
    else:
        targets = []
    return {t.id for t in targets if isinstance(t, ast.Name)}


def listed(ctx: FileContext, local: list[ast.AST], holders: set[ast.AST | str]) -> bool:
    """Tell whether a statement held in ``holders`` is executed and its rows listed.

    Directly (``(await s.scalars(stmt)).all()``) or by a known helper (`Sink`).
    """
    for node in local:
        if not isinstance(node, ast.Call):
            continue
        split = method_call(node)
        if split is not None and split[1] in EXECUTE:
            statement = node.args[0] if node.args else None
            executor = ctx.kind(split[0]) in EXECUTORS or ctx.used_as_session(split[0])
            if _holds(statement, holders) and executor and _fails(ctx, node, local):
                return True
        elif _hands_to_sink(ctx, node, holders):
            return True
    return False


def _holds(expr: ast.AST | None, holders: set[ast.AST | str]) -> bool:
    if expr is None:
        return False
    if expr in holders:
        return True  # the option's own statement, inline
    # a holder, or a statement built from one in place (``statement.limit(n)``)
    return any(isinstance(n, ast.Name) and n.id in holders for n in ast.walk(expr))


def _hands_to_sink(ctx: FileContext, call: ast.Call, holders: set[ast.AST | str]) -> bool:
    name = terminal(call.func)
    method = isinstance(call.func, ast.Attribute)
    sink = ctx.project.sink(name, method=method) if name else None
    if sink is None:
        return False
    for position, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            return False  # positions unknown from here on
        if position < len(sink.positional) and sink.positional[position] in sink.params:
            if _holds(arg, holders):
                return True
    return any(k.arg in sink.params and _holds(k.value, holders) for k in call.keywords)


def _fails(ctx: FileContext, node: ast.AST, local: list[ast.AST], depth: int = 0) -> bool:
    """Follow the result: does it reach ``.all()``/``.one()``/iteration?"""
    parent = ctx.parent(node)
    if isinstance(parent, ast.Await):
        node, parent = parent, ctx.parent(parent)
    while isinstance(parent, ast.Attribute) and isinstance(ctx.parent(parent), ast.Call):
        if parent.attr in FAILING:
            return True
        if parent.attr not in ("scalars", "mappings", "tuples"):
            return False
        node = ctx.parent(parent)  # type: ignore[assignment]
        parent = ctx.parent(node)
    if isinstance(parent, (ast.Assign, ast.AnnAssign)) and depth == 0:
        targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
        names = {t.id for t in targets if isinstance(t, ast.Name)}
        uses = [n for n in local if isinstance(n, ast.Name) and n.id in names]
        return any(_fails(ctx, use, local, 1) for use in uses if isinstance(use.ctx, ast.Load))
    return isinstance(parent, (ast.For, ast.AsyncFor, ast.comprehension)) or (
        isinstance(parent, ast.Call) and terminal(parent.func) in ("list", "tuple", "set")
    )


def uniques(local: list[ast.AST]) -> bool:
    """Tell whether a function body calls ``unique()`` anywhere."""
    return any(isinstance(n, ast.Call) and terminal(n.func) == "unique" for n in local)


def sink_params(ctx: FileContext, func: FunctionNode) -> Sink | None:
    """Return which parameters ``func`` executes and lists without ``unique()``."""
    scope = ctx.index.scopes[func]
    args = func.args
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    if scope.self_name is not None:
        positional = positional[1:]
    names = [*positional, *(a.arg for a in args.kwonlyargs)]
    if not names:
        return None
    local = list(walk_local(func))
    if not _runs_statements(ctx, local) or uniques(local):
        return None
    params = frozenset(p for p in names if listed(ctx, local, grow({p}, local)))
    return Sink(tuple(positional), params) if params else None


def _runs_statements(ctx: FileContext, local: list[ast.AST]) -> bool:
    """Tell whether a body executes something or calls a known `Sink` (a cheap first test)."""
    for node in local:
        if isinstance(node, ast.Call):
            name = terminal(node.func)
            method = isinstance(node.func, ast.Attribute)
            if (method and name in EXECUTE) or ctx.project.sink(name, method=method):
                return True
    return False
