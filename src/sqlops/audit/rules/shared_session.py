"""SQA008: one ``AsyncSession`` handed to several concurrent tasks.

A session is one connection and one unit of work; it is not safe for concurrent
use. ``asyncio.gather(s.execute(a), s.execute(b))`` fails with "This session is
provisioning a new connection; concurrent operations are not permitted" (or
worse, interleaves two transactions' state). Each task needs its own session.

A task that is awaited where it is created (``await asyncio.create_task(...)``)
finishes before the next one starts: taking turns is fine and not flagged.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from sqlops.audit._astutil import key, method_call, terminal, walk_local
from sqlops.audit._context import FileContext
from sqlops.audit._finding import Hit, Rule
from sqlops.audit._kinds import IO_METHODS, Kind

_SPAWNERS = frozenset({"create_task", "ensure_future", "start_soon"})
_WATCHED = _SPAWNERS | {"gather"}
_LOOPS = (ast.For, ast.AsyncFor, ast.While, ast.comprehension)
_BOUNDARY = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def check(ctx: FileContext) -> Iterator[Hit]:
    """Flag ``gather()`` and task spawns that share one session between tasks."""
    spawned: dict[tuple[ast.AST | None, str], int] = {}
    for call in sorted(ctx.index.calls(*_WATCHED), key=_position):
        name = terminal(call.func)
        if name == "gather":
            yield from _gather(ctx, call)
        elif name in _SPAWNERS and call.args and not isinstance(ctx.parent(call), ast.Await):
            for session in _sessions_in(ctx, call.args[0], call.args[1:]):
                slot = (ctx.function_of(call), session)
                before = spawned.get(slot, 0)
                spawned[slot] = before + (2 if _in_loop(ctx, call) else 1)
                meanwhile = before == 0 and _used_meanwhile(ctx, call, session)
                if before < 2 <= spawned[slot] or meanwhile:
                    spawned[slot] = 2
                    yield _hit(call, session, name)


def _position(node: ast.AST) -> tuple[int, int]:
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def _gather(ctx: FileContext, call: ast.Call) -> Iterator[Hit]:
    counts: dict[str, int] = {}
    for arg in call.args:
        many = isinstance(arg, ast.Starred)
        target = arg.value if isinstance(arg, ast.Starred) else arg
        if isinstance(target, (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
            target = target.elt
        for session in _sessions_in(ctx, target, []):
            counts[session] = counts.get(session, 0) + (2 if many else 1)
    for session, count in counts.items():
        if count >= 2:
            yield _hit(call, session, "gather")


def _sessions_in(ctx: FileContext, task: ast.expr, extra: list[ast.expr]) -> set[str]:
    """Return the async sessions a task uses: as the receiver or as an argument."""
    if not isinstance(task, ast.Call):
        candidates = [task, *extra]
    else:
        split = method_call(task)
        candidates = [*task.args, *(k.value for k in task.keywords), *extra]
        if split is not None:
            candidates.append(split[0])
    return {key(c) for c in candidates if ctx.kind(c) is Kind.ASYNC_SESSION}


def _used_meanwhile(ctx: FileContext, spawn: ast.Call, session: str) -> bool:
    """Tell whether the spawning function keeps using the session while the task runs.

    The task is considered finished once its handle is awaited (``await task``).
    """
    function = ctx.function_of(spawn)
    if function is None:
        return False
    handle = _handle(ctx, spawn)
    done_at = None
    uses = []
    start = (spawn.end_lineno or spawn.lineno, spawn.end_col_offset or 0)
    for node in walk_local(function):
        if not isinstance(node, ast.expr) or (node.lineno, node.col_offset) < start:
            continue
        if isinstance(node, ast.Await) and handle and _mentions(node.value, handle):
            done_at = min(done_at or node.lineno, node.lineno)
        split = method_call(node)
        if split is not None and split[1] in IO_METHODS and key(split[0]) == session:
            uses.append(node.lineno)
    return any(done_at is None or line < done_at for line in uses)


def _handle(ctx: FileContext, spawn: ast.Call) -> str | None:
    parent = ctx.parent(spawn)
    if isinstance(parent, ast.Assign) and len(parent.targets) == 1:
        target = parent.targets[0]
        return target.id if isinstance(target, ast.Name) else None
    return None


def _mentions(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def _in_loop(ctx: FileContext, call: ast.Call) -> bool:
    for ancestor in ctx.ancestors(call):
        if isinstance(ancestor, _BOUNDARY):
            return False
        if isinstance(ancestor, _LOOPS):
            return True
    return False


def _hit(call: ast.Call, session: str, how: str) -> Hit:
    return Hit(
        call,
        f"`{session}` is shared by tasks that run concurrently (`{how}`): an AsyncSession "
        "is one connection and does not allow concurrent operations",
        "give each task its own session (`async with sessionmaker() as s:` inside the task), "
        "or await the calls one after another",
    )


RULE = Rule(
    code="SQA008",
    name="session-shared-between-tasks",
    summary="One AsyncSession passed to several concurrent tasks (gather / create_task)",
    fix="open one session per task, or run the calls sequentially",
    check=check,
    doc=__doc__ or "",
)
