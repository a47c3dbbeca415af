"""SQA011: ``create_async_engine()`` in code that runs per request or per call.

An engine owns a connection pool. Building one per request opens a fresh
connection (TCP + TLS + auth) every time, never reuses it, and leaks pools until
the server runs out of connections. Create it once: at module level, in a
lifespan/startup hook, or behind a cached factory.

Flagged only where the per-call nature is visible: route handlers, functions
injected with ``Depends()`` and dependency generators that yield a session.
An engine built under an ``if`` (lazy initialisation), stored on an attribute or
in a mapping, or assigned to a ``global`` is kept for reuse and not flagged.
Lifespans, ``main``, ``setup``/``init_*``, ``create_app``, cached
factories and pytest fixtures are left alone.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from sqlops.audit._astutil import decorator_names, terminal, walk_local
from sqlops.audit._context import FileContext
from sqlops.audit._finding import Hit, Rule
from sqlops.audit._kinds import EXECUTORS

_ROUTES = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "api_route", "route", "websocket"}
)
_ONCE = frozenset({"lru_cache", "cache", "cached", "cached_property", "fixture"})
_ONCE_NAMES = ("lifespan", "main", "setup", "init", "create_app", "startup", "on_startup")


def check(ctx: FileContext) -> Iterator[Hit]:
    """Flag engines built inside route handlers and request dependencies."""
    for call in ctx.index.calls("create_async_engine"):
        why = _per_call(ctx, call)
        if why:
            yield Hit(
                call,
                f"`create_async_engine()` {why}: every call builds a new connection pool "
                "and a new connection, and the pools pile up until the server refuses more",
                "create the engine once (module level or lifespan) and reuse it",
            )


def _per_call(ctx: FileContext, call: ast.Call) -> str:
    for ancestor in ctx.ancestors(call):
        if isinstance(ancestor, ast.If) or _stored(ancestor, call):
            return ""  # a lazy `if _engine is None:` guard, or kept for reuse
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if any(isinstance(n, (ast.Global, ast.Nonlocal)) for n in walk_local(ancestor)):
                return ""
            return _function_reason(ctx, ancestor)
        if isinstance(ancestor, (ast.Lambda, ast.ClassDef)):
            return ""
    return ""


def _stored(node: ast.AST, call: ast.Call) -> bool:
    """Tell whether the engine is kept (``self._engine = ...``, ``cache[url] = ...``)."""
    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is not call:
        return False
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return any(isinstance(t, (ast.Attribute, ast.Subscript)) for t in targets)


def _function_reason(ctx: FileContext, func: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    decorators = decorator_names(func)
    if _ONCE & set(decorators) or func.name.lower().startswith(_ONCE_NAMES):
        return ""
    if _ROUTES & set(decorators):
        return f"runs on every request to route `{func.name}`"
    if func.name in ctx.project.dependencies:
        return f"runs on every request that depends on `{func.name}`"
    if ctx.index.scopes[func].yields and _yields_session(ctx, func):
        return f"runs every time `{func.name}` hands out a session"
    return ""


def _yields_session(ctx: FileContext, func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Tell whether a generator hands out sessions from an engine it does not dispose.

    A helper that builds an engine, yields a session and disposes the engine
    afterwards (a test fixture) owns that engine's whole life; that is fine.
    """
    outer = ctx.index.scopes[func].parent
    provider = ctx.project.provider(func.name, method=bool(outer and outer.is_class))
    if provider is None or provider.kind not in EXECUTORS:
        return False
    return not any(
        isinstance(n, ast.Call) and terminal(n.func) == "dispose" for n in walk_local(func)
    )


RULE = Rule(
    code="SQA011",
    name="engine-per-call",
    summary="`create_async_engine()` inside a route or request dependency (a pool per call)",
    fix="create the engine once at module level or in the lifespan, and reuse it",
    check=check,
    doc=__doc__ or "",
    in_tests=False,
)
