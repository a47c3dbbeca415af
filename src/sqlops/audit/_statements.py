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


class Body:
    """Hold one function body's nodes and the name flows between its statements (cached)."""

    def __init__(self, function: ast.AST) -> None:
        self.local = list(walk_local(function))
        self.calls = [n for n in self.local if isinstance(n, ast.Call)]
        self.uniques = any(terminal(n.func) == "unique" for n in self.calls)
        self._names: dict[int, frozenset[str]] = {}
        self._flows: list[tuple[set[str], frozenset[str]]] | None = None
        self._listed: list[ast.expr] | None = None
        self._helpers: list[tuple[ast.Call, Sink]] | None = None

    def names_in(self, node: ast.AST) -> frozenset[str]:
        """Return the names an expression or statement reads or writes."""
        found = self._names.get(id(node))
        if found is None:
            found = frozenset(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
            self._names[id(node)] = found
        return found

    def listed_statements(self, ctx: FileContext) -> list[ast.expr]:
        """Return the statements executed on a session whose rows are then listed."""
        if self._listed is None:
            self._listed = []
            for node in self.calls:
                split = method_call(node)
                if split is None or split[1] not in EXECUTE or not node.args:
                    continue
                executor = ctx.kind(split[0]) in EXECUTORS or ctx.used_as_session(split[0])
                if executor and _fails(ctx, node, self.local):
                    self._listed.append(node.args[0])
        return self._listed

    def helper_calls(self, ctx: FileContext) -> list[tuple[ast.Call, Sink]]:
        """Return the calls to functions known to execute and list a statement (`Sink`)."""
        if self._helpers is None:
            self._helpers = []
            for node in self.calls:
                name = terminal(node.func)
                method = isinstance(node.func, ast.Attribute)
                if name and not (method and name in EXECUTE):
                    sink = ctx.project.sink(name, method=method)
                    if sink is not None:
                        self._helpers.append((node, sink))
        return self._helpers

    def flows(self) -> list[tuple[set[str], frozenset[str]]]:
        """Return ``(names stored, names mentioned)`` for each statement that builds a value."""
        if self._flows is None:
            self._flows = []
            for node in self.local:
                if isinstance(node, _STATEMENTS) and (stored := assigned(node)):
                    self._flows.append((stored, self.names_in(node)))
        return self._flows


def grow(found: set[ast.AST | str], body: Body) -> set[ast.AST | str]:
    """Add the names that statements built from ``found`` are stored into.

    ``stmt = stmt.options(*opts)``, ``opts.append(joinedload(...))``, ``q = select(X)``
    followed by ``q = q.where(...)``.
    """
    names = {n for n in found if isinstance(n, str)}
    for _ in range(4):
        before = len(names)
        for stored, mentioned in body.flows():
            if not mentioned.isdisjoint(names):
                names |= stored
        if len(names) == before:
            break
    return found | names


def _awaits(stmt: ast.AST) -> bool:
    """Tell whether a statement awaits: what it stores is a result, not a statement."""
    return any(isinstance(n, ast.Await) for n in ast.walk(stmt))


def assigned(stmt: ast.stmt) -> set[str]:
    """Return the names a statement stores into (``x = ...``, ``opts.append(...)``).

    Nothing when it awaits (``swap = await plan(options=[...])`` stores a result).
    """
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    elif isinstance(stmt, ast.Expr) and (split := method_call(stmt.value)) is not None:
        targets = [split[0]] if split[1] in ("append", "extend", "insert") else []
    else:
        targets = []
    if not targets or _awaits(stmt):
        return set()
    return {t.id for t in targets if isinstance(t, ast.Name)}


def listed(ctx: FileContext, body: Body, holders: set[ast.AST | str]) -> bool:
    """Tell whether a statement held in ``holders`` is executed and its rows listed.

    Directly (``(await s.scalars(stmt)).all()``) or by a known helper (`Sink`).
    """
    if any(_holds(statement, holders, body) for statement in body.listed_statements(ctx)):
        return True
    for call, sink in body.helper_calls(ctx):
        for position, arg in enumerate(call.args):
            if isinstance(arg, ast.Starred):
                break  # positions unknown from here on
            param = sink.positional[position] if position < len(sink.positional) else None
            if param in sink.params and _holds(arg, holders, body):
                return True
        if any(k.arg in sink.params and _holds(k.value, holders, body) for k in call.keywords):
            return True
    return False


def _holds(expr: ast.AST, holders: set[ast.AST | str], body: Body) -> bool:
    if expr in holders:
        return True  # the option's own statement, inline
    # a holder, or a statement built from one in place (``statement.limit(n)``)
    return not body.names_in(expr).isdisjoint(holders)


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


def sink_params(ctx: FileContext, func: FunctionNode) -> Sink | None:
    """Return which parameters ``func`` executes and lists without ``unique()``.

    Worth asking only of a function with one of `runs_statements`' calls.
    """
    scope = ctx.index.scopes[func]
    args = func.args
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    if scope.self_name is not None:
        positional = positional[1:]
    names = [*positional, *(a.arg for a in args.kwonlyargs)]
    if not names:
        return None
    body = Body(func)
    if body.uniques:
        return None
    params = frozenset(p for p in names if listed(ctx, body, grow({p}, body)))
    return Sink(tuple(positional), params) if params else None


def runs_statements(ctx: FileContext) -> list[ast.Call]:
    """Return the calls of a file that execute a statement or call a known `Sink`."""
    found = []
    for call in ctx.index.nodes(ast.Call):
        name = terminal(call.func)
        method = isinstance(call.func, ast.Attribute)
        if (method and name in EXECUTE) or (name and ctx.project.sink(name, method=method)):
            found.append(call)
    return found
