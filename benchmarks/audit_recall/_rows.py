"""The SQA010 oracle: follow a statement to where it runs and judge how its rows are read.

Judged from the code alone, not from the audit's inference: the statement's names are
followed through the function's assignments (not through awaited results) to an
execution, or, by name, into a project function it is handed to (three calls deep,
``@overload`` signatures skipped). SQLAlchemy's ``Result._only_one_row`` applies the
uniquing filter for ``all()``-like reads and iteration, not for ``first()``/``scalar()``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from benchmarks.audit_recall._corpus import Corpus
from sqlops.audit._astutil import terminal, walk_local
from sqlops.audit._context import FileContext

LISTING = frozenset({"all", "fetchall", "one", "one_or_none", "scalar_one", "scalar_one_or_none"})
_ONE_ROW = frozenset({"first", "scalar", "get", "get_one"})
_RUNS = frozenset({"execute", "scalars", "scalar", "stream", "stream_scalars", "exec"})
_RUNS |= {"get", "get_one"}


def holders(ctx: FileContext, call: ast.AST, function: ast.AST) -> set[str | ast.AST]:
    """Return the option call and the names its statement is stored into."""
    found: set[str | ast.AST] = {call}
    stmt = _statement_of(ctx, call)
    if not any(isinstance(n, ast.Await) for n in ast.walk(stmt)):  # else a result is stored
        found |= _stored(stmt)
    return _spread(found, function)


def _stored(stmt: ast.AST) -> set[str | ast.AST]:
    if isinstance(stmt, ast.Assign):
        return {t.id for t in stmt.targets if isinstance(t, ast.Name)}
    if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) and isinstance(stmt.target, ast.Name):
        return {stmt.target.id}
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        func = stmt.value.func
        receiver = func.value if isinstance(func, ast.Attribute) else None
        extends = terminal(func) in ("append", "extend")
        if extends and isinstance(receiver, ast.Name):
            return {receiver.id}
    return set()


def _mentions(node: ast.AST, names: set[str | ast.AST]) -> bool:
    return any(n in names or (isinstance(n, ast.Name) and n.id in names) for n in ast.walk(node))


def _spread(names: set[str | ast.AST], function: ast.AST) -> set[str | ast.AST]:
    statements = [n for n in walk_local(function) if isinstance(n, ast.stmt)]
    for _ in range(5):
        grown = set(names)
        for stmt in statements:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr)):
                awaits = any(isinstance(n, ast.Await) for n in ast.walk(stmt))
                if not awaits and _mentions(stmt, names):  # a result is not the statement
                    grown |= _stored(stmt)
        if grown == names:
            break
        names = grown
    return names


def rows_listed(
    corpus: Corpus, function: ast.AST, names: set[str | ast.AST], depth: int = 0
) -> bool:
    """Tell from the code whether the statement's rows are listed without ``unique()``.

    Followed where it runs: the execution in this function, or a function of the
    project it is handed to (by name, three calls deep).
    """
    local = list(walk_local(function))
    if any(isinstance(n, ast.Call) and terminal(n.func) == "unique" for n in local):
        return False
    for node in local:
        if not isinstance(node, ast.Call) or not any(
            _mentions(a, names) for a in [*node.args, *(k.value for k in node.keywords)]
        ):
            continue
        name = terminal(node.func)
        if isinstance(node.func, ast.Attribute) and name in _RUNS:
            if name not in _ONE_ROW and _result_listed(corpus, node, local):
                return True
        elif depth < 3:
            for helper, params in _handed_to(corpus, node, names):
                if rows_listed(corpus, helper, params, depth + 1):
                    return True
    return False


def _result_listed(corpus: Corpus, run: ast.Call, local: list[ast.AST]) -> bool:
    """Follow one execution's result to ``.all()``-like reads or iteration."""
    parents = _parents(local)
    node: ast.AST = run
    while True:
        parent = parents.get(node)
        if isinstance(parent, ast.Await):
            node = parent
            continue
        if isinstance(parent, ast.Attribute):
            if parent.attr in LISTING or parent.attr in ("fetchone", "fetchmany", "partitions"):
                return True
            if parent.attr in _ONE_ROW:
                return False
            node = parents.get(parent, parent)
            continue
        break
    if isinstance(parent, (ast.For, ast.AsyncFor, ast.comprehension)):
        return True
    if isinstance(parent, ast.Call) and terminal(parent.func) in ("list", "tuple", "set"):
        return True
    if isinstance(parent, ast.Assign):
        names = {t.id for t in parent.targets if isinstance(t, ast.Name)}
        for use in local:
            read = isinstance(use, ast.Name) and use.id in names and isinstance(use.ctx, ast.Load)
            if read and _read_listed(parents, use):
                return True
    return False


def _read_listed(parents: dict[ast.AST, ast.AST], node: ast.AST) -> bool:
    parent = parents.get(node)
    while isinstance(parent, ast.Attribute):
        if parent.attr in LISTING or parent.attr in ("fetchone", "fetchmany", "partitions"):
            return True
        if parent.attr in _ONE_ROW:
            return False
        node = parents.get(parent, parent)
        parent = parents.get(node)
    if isinstance(parent, (ast.For, ast.AsyncFor, ast.comprehension)):
        return True
    return isinstance(parent, ast.Call) and terminal(parent.func) in ("list", "tuple", "set")


def _parents(local: list[ast.AST]) -> dict[ast.AST, ast.AST]:
    found: dict[ast.AST, ast.AST] = {}
    for node in local:
        for child in ast.iter_child_nodes(node):
            found[child] = node
    return found


def _handed_to(
    corpus: Corpus, call: ast.Call, names: set[str | ast.AST]
) -> Iterator[tuple[ast.AST, set[str | ast.AST]]]:
    """Yield ``(def, parameter names)`` for a project function the statement is passed to."""
    defs = [
        d
        for d in corpus.functions().get(terminal(call.func), [])
        if "overload" not in {terminal(x) for x in d.decorator_list}
    ]
    if len(defs) != 1:
        return  # unknown or ambiguous: cannot tell
    helper = defs[0]
    positional = [a.arg for a in (*helper.args.posonlyargs, *helper.args.args)]
    if positional and positional[0] in ("self", "cls") and isinstance(call.func, ast.Attribute):
        positional = positional[1:]
    params: set[str | ast.AST] = set()
    for position, arg in enumerate(call.args):
        if position < len(positional) and _mentions(arg, names):
            params.add(positional[position])
    params |= {k.arg for k in call.keywords if k.arg and _mentions(k.value, names)}
    if params:
        yield helper, _spread(params, helper)


def _statement_of(ctx: FileContext, node: ast.AST) -> ast.AST:
    for ancestor in ctx.ancestors(node):
        if isinstance(ancestor, ast.stmt):
            return ancestor
    return node
