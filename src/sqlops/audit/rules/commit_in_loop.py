"""SQA007: ``commit()`` on every iteration of a ``for`` loop over rows.

Each commit is a round trip and a durable write (an fsync on the server); 10,000
rows become 10,000 transactions, and a failure halfway leaves half of them
written. Adding everything and committing once is faster and atomic.

Kept quiet on purpose: ``while`` loops and ``async for`` over queues (workers
that commit per message), ``for _ in range(n)`` (repetition, not rows), loops over
batches or chunks (``range(0, n, size)``, ``for batch in batches``, ``chunked()``:
a commit per batch is how a backfill should work), commits under an ``if``
(batching every N rows), commits inside ``try``/``except`` in the loop (per-item
error isolation), loops that ``break``/``return`` (retries), sessions opened
inside the loop (one transaction per item on purpose), iterations with an
external side effect (an ``await`` of something else, a message sent, a file
stored, the session handed to another function: batching would change what
happens when an item fails), ``flush()`` (it ends no transaction, so nothing is
left half-applied), and test-data builders.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from sqlops.audit._astutil import method_call, same, terminal, walk_local
from sqlops.audit._context import FileContext
from sqlops.audit._finding import Hit, Rule
from sqlops.audit._kinds import EXECUTORS

_METHODS = frozenset({"commit"})
_BATCHES = re.compile(r"batch|chunk|page|slice|window|partition|bulk|group", re.IGNORECASE)
_SIDE_EFFECTS = re.compile(
    r"(^|_)(send|enqueue|publish|upload|write|notify|emit|delay|apply_async|post|put|request|"
    r"store|push|dispatch|schedule|submit|create_task|e?mail|save|sync|call|run|invoke|"
    r"trigger|fire|broadcast|webhook|log_\w*event)",
    re.IGNORECASE,
)
_BOUNDARY = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def check(ctx: FileContext) -> Iterator[Hit]:
    """Flag per-iteration commits in ``for`` loops over rows."""
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
            f"`{name}` runs on every iteration: one transaction (and durable write) per "
            "item, and a failure halfway leaves the loop half-applied",
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
    return _over_batches(loop) or _side_effect(body, session) or _test_data(ctx, call)


def _over_batches(loop: ast.For | ast.AsyncFor) -> bool:
    """Tell whether the loop walks batches, not rows (``range(0, n, size)``, ``chunked(rows)``)."""
    iterated = loop.iter
    if isinstance(iterated, ast.Call) and terminal(iterated.func) == "range":
        return len(iterated.args) == 3
    names = [terminal(n) for n in ast.walk(iterated) if isinstance(n, (ast.Name, ast.Attribute))]
    names += [n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)]
    if any(_BATCHES.search(name) for name in names if name):
        return True
    return isinstance(iterated, ast.Call) and bool(_BATCHES.search(terminal(iterated.func)))


def _side_effect(body: list[ast.AST], session: ast.expr) -> bool:
    """Tell whether an iteration does more than database work on this session."""
    for node in body:
        if isinstance(node, ast.Await):
            split = method_call(node.value)
            if split is None or not same(split[0], session):
                return True
        elif isinstance(node, ast.Call):
            passed = [*node.args, *(k.value for k in node.keywords)]
            if any(same(arg, session) for arg in passed):
                return True
            split = method_call(node)
            on_session = split is not None and same(split[0], session)
            if not on_session and _SIDE_EFFECTS.search(terminal(node.func)):
                return True
    return False


def _test_data(ctx: FileContext, call: ast.Call) -> bool:
    function = ctx.function_of(call)
    name = function.name if function is not None else ""
    module = ctx.path.replace("\\", "/").rsplit("/", 1)[-1]
    return bool(_TEST_DATA.search(name) or _TEST_DATA.search(module))


_TEST_DATA = re.compile(
    r"test_?data|testdata|fixture|^seed|_seed|populate|fake|factor(y|ies)|sample_data|demo_data|"
    r"create_test|make_test",
    re.IGNORECASE,
)


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


RULE = Rule(
    code="SQA007",
    name="commit-in-loop",
    summary="`commit()` inside a `for` loop over rows (one transaction per row)",
    fix="add the rows in the loop and commit once after it",
    check=check,
    doc=__doc__ or "",
    in_tests=False,
)
