"""SQA007: ``commit()`` or ``flush()`` on every iteration of a ``for`` loop.

Each commit is a round trip and a durable write (an fsync on the server); 10,000
rows become 10,000 transactions, and a failure halfway leaves half of them
written. Adding everything and committing once is faster and atomic.

Kept quiet on purpose: ``while`` loops and ``async for`` over queues (workers
that commit per message), ``for _ in range(n)`` (repetition, not rows), commits
under an ``if`` (batching every N rows), commits inside ``try``/``except`` in the
loop (per-item error isolation), loops that ``break``/``return`` (retries),
sessions opened inside the loop (one transaction per item on purpose), and a
``flush()`` followed by more work in the same iteration (it is there to get
generated keys).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from sqlops.audit._astutil import method_call, same, walk_local
from sqlops.audit._context import FileContext
from sqlops.audit._finding import Hit, Rule
from sqlops.audit._kinds import EXECUTORS

_METHODS = frozenset({"commit", "flush"})
_BOUNDARY = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def check(ctx: FileContext) -> Iterator[Hit]:
    """Flag per-iteration commits and trailing flushes in ``for`` loops."""
    for call in ctx.index.calls(*_METHODS):
        split = method_call(call)
        if split is None or split[1] not in _METHODS:
            continue
        loop = _loop_of(ctx, call)
        if loop is None or ctx.kind(split[0]) not in EXECUTORS:
            continue
        if _deliberate(ctx, call, loop, split[0]):
            continue
        name = f"{ast.unparse(split[0])}.{split[1]}()"
        yield Hit(
            call,
            f"`{name}` runs on every iteration: one round trip (and, for commit, one "
            "transaction) per item, and a failure halfway leaves the loop half-applied",
            f"move `{name}` after the loop (use `add_all()` or a bulk insert for many rows)",
        )


def _loop_of(ctx: FileContext, call: ast.Call) -> ast.For | ast.AsyncFor | None:
    """Return the innermost loop whose body runs the call, with no ``if`` in between."""
    child: ast.AST = call
    for ancestor in ctx.ancestors(call):
        if isinstance(ancestor, (*_BOUNDARY, ast.If, ast.While)):
            return None
        if isinstance(ancestor, (ast.For, ast.AsyncFor)):
            return ancestor if child in ancestor.body else None
        child = ancestor
    return None


def _deliberate(
    ctx: FileContext, call: ast.Call, loop: ast.For | ast.AsyncFor, session: ast.expr
) -> bool:
    if isinstance(loop, ast.AsyncFor) and not _iterates_session(loop, session):
        return True
    if isinstance(loop.target, ast.Name) and loop.target.id == "_":
        return True  # "do this N times", not "once per row"
    if any(isinstance(a, ast.Try) and a.handlers for a in _between(ctx, call, loop)):
        return True  # per-item error isolation: a failing item is rolled back alone
    body = [n for stmt in loop.body for n in (stmt, *walk_local(stmt))]
    if any(isinstance(n, (ast.Break, ast.Return)) for n in body):
        return True
    if _bound_in(body, session):
        return True
    split = method_call(call)
    return split is not None and split[1] == "flush" and not _last_statement(ctx, call, loop)


def _iterates_session(loop: ast.AsyncFor, session: ast.expr) -> bool:
    return any(
        isinstance(n, ast.Call) and (m := method_call(n)) is not None and same(m[0], session)
        for n in ast.walk(loop.iter)
    )


def _bound_in(body: list[ast.AST], session: ast.expr) -> bool:
    if not isinstance(session, ast.Name):
        return False
    for node in body:
        if isinstance(node, ast.withitem) and node.optional_vars is not None:
            if same(node.optional_vars, session):
                return True
        elif isinstance(node, ast.Assign) and any(same(t, session) for t in node.targets):
            return True
    return False


def _between(ctx: FileContext, call: ast.Call, loop: ast.AST) -> list[ast.AST]:
    found = []
    for ancestor in ctx.ancestors(call):
        if ancestor is loop:
            break
        found.append(ancestor)
    return found


def _last_statement(ctx: FileContext, call: ast.Call, loop: ast.For | ast.AsyncFor) -> bool:
    """Tell whether nothing else runs in the iteration after the call's statement."""
    child: ast.AST = call
    for ancestor in [*_between(ctx, call, loop), loop]:
        if isinstance(child, ast.stmt):
            block = next(
                (b for b in _blocks(ancestor) if child in b),
                None,
            )
            if block is not None and block[-1] is not child:
                return False
        child = ancestor
    return True


def _blocks(node: ast.AST) -> list[list[ast.stmt]]:
    names = ("body", "orelse", "finalbody")
    blocks = [getattr(node, n) for n in names if isinstance(getattr(node, n, None), list)]
    blocks += [h.body for h in getattr(node, "handlers", [])]
    return blocks


RULE = Rule(
    code="SQA007",
    name="commit-in-loop",
    summary="`commit()` or `flush()` inside a `for` loop (one round trip per row)",
    fix="add the rows in the loop and commit once after it",
    check=check,
    doc=__doc__ or "",
    in_tests=False,
)
