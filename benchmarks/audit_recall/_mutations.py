"""Mutations that put one known mistake into real code, and an oracle for each.

Each mutation rewrites one file's text in one place; the oracle says whether the
result is certainly the bug the rule is about (``qualified``), judged from the
code alone and not from the audit's own inference, so recall is not circular.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

from benchmarks.audit_recall._corpus import Corpus, segment
from benchmarks.audit_recall._rows import holders, rows_listed
from sqlops.audit._astutil import key, method_call, terminal, walk_local
from sqlops.audit._context import FileContext

AWAITED = frozenset(
    {"delete", "commit", "execute", "flush", "refresh", "scalars", "scalar", "get", "rollback"}
    | {"merge", "close"}
)
SESSION_NAME = re.compile(r"(session|db|conn|connection)$", re.IGNORECASE)
OTHER_SESSIONS = re.compile(r"http|client|mcp|ws|socket|aiohttp|redis|browser", re.IGNORECASE)
EAGER = frozenset({"selectinload", "joinedload", "subqueryload", "immediateload"})
DB_ERRORS = frozenset({"IntegrityError", "DBAPIError", "SQLAlchemyError", "OperationalError"})
BROAD = frozenset({"Exception", "BaseException"})
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass(frozen=True)
class Mutation:
    """One rewrite of one file: which rule should see it, and whether it must."""

    kind: str
    code: str
    path: str
    line: int
    text: str
    qualified: bool


def mutations(corpus: Corpus) -> Iterator[Mutation]:
    """Yield every mutation of every file of a project."""
    for ctx in corpus.files.values():
        yield from _remove_await(ctx)
        yield from _remove_unique(corpus, ctx)
        yield from _join_instead(corpus, ctx)
        yield from _remove_eager(corpus, ctx)
        yield from _drop_rollback(ctx)


def _splice(source: str, begin: int, end: int, new: str) -> str:
    return source[:begin] + new + source[end:]


def _remove_await(ctx: FileContext) -> Iterator[Mutation]:
    """``await session.commit()`` → ``session.commit()`` (SQA001).

    Required to be found: the receiver is named like a session (``...session``,
    ``...db``, ``...conn``, ``...connection``; not an HTTP, MCP or websocket one)
    in a file that imports SQLAlchemy or SQLModel.
    """
    sqlalchemy = any(
        q.split(".", 1)[0] in ("sqlalchemy", "sqlmodel") for q in ctx.index.imports.values()
    )
    for node in ctx.index.nodes(ast.Await):
        split = method_call(node.value)
        if split is None or split[1] not in AWAITED:
            continue
        begin, _ = segment(ctx.source, node)
        inner, _ = segment(ctx.source, node.value)
        name = key(split[0]).rsplit(".", 1)[-1]
        yield Mutation(
            "remove await",
            "SQA001",
            ctx.path,
            node.lineno,
            _splice(ctx.source, begin, inner, ""),
            qualified=sqlalchemy
            and bool(SESSION_NAME.search(name))
            and not OTHER_SESSIONS.search(key(split[0])),
        )


def _remove_unique(corpus: Corpus, ctx: FileContext) -> Iterator[Mutation]:
    """``(await s.scalars(q)).unique().all()`` → ``(await s.scalars(q)).all()`` (SQA010)."""
    for call in ctx.index.calls("unique"):
        split = method_call(call)
        function = ctx.function_of(call)
        if split is None or call.args or function is None:
            continue
        loaded = _joined_attrs(function)
        if not loaded:
            continue
        _, receiver_end = segment(ctx.source, split[0])
        _, call_end = segment(ctx.source, call)
        collection = any(pair in corpus.project.collections for pair in loaded)
        yield Mutation(
            "remove .unique()",
            "SQA010",
            ctx.path,
            call.lineno,
            _splice(ctx.source, receiver_end, call_end, ""),
            qualified=collection,
        )


def _join_instead(corpus: Corpus, ctx: FileContext) -> Iterator[Mutation]:
    """``selectinload(Team.members)`` → ``joinedload(Team.members)`` with no ``.unique()`` (SQA010).

    Required to be found: ``Team.members`` is declared a list in a model, the function
    calls ``unique()`` nowhere, and its statement reaches ``.all()`` or iteration.
    """
    for call in ctx.index.calls("selectinload"):
        function = ctx.function_of(call)
        target = call.args[0] if call.args else None
        if function is None or not isinstance(target, ast.Attribute):
            continue
        if not isinstance(target.value, (ast.Name, ast.Attribute)):
            continue
        if not isinstance(call.func, ast.Name):
            continue
        begin, end = segment(ctx.source, call.func)
        collection = (terminal(target.value), target.attr) in corpus.project.collections
        yield Mutation(
            "selectinload → joinedload",
            "SQA010",
            ctx.path,
            call.lineno,
            _splice(ctx.source, begin, end, "joinedload"),
            qualified=collection and rows_listed(corpus, function, holders(ctx, call, function)),
        )


def _joined_attrs(function: ast.AST) -> set[tuple[str, str]]:
    found = set()
    for node in walk_local(function):
        if isinstance(node, ast.Call) and terminal(node.func) == "joinedload" and node.args:
            target = node.args[0]
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                found.add((target.value.id, target.attr))
    return found


def _remove_eager(corpus: Corpus, ctx: FileContext) -> Iterator[Mutation]:
    """Drop one ``selectinload(M.rel)`` from a statement's options (SQA014).

    Required to be found: ``M.rel`` is declared a lazy collection (not ``lazy="selectin"``
    & co.: then nothing breaks) and the function reads
    ``obj.rel`` after the statement (a many-to-one may be served by the identity map).
    """
    for call in ctx.index.nodes(ast.Call):
        if terminal(call.func) != "options" and not _get_with_options(call):
            continue
        function = ctx.function_of(call)
        if not isinstance(function, ast.AsyncFunctionDef):
            continue
        for holder, option in _options_of(call):
            relationship = _loaded(option)
            if relationship is None:
                continue
            text = _without(ctx.source, call, holder, option)
            collection = _loaded_collection(corpus, option)
            yield Mutation(
                "remove eager load",
                "SQA014",
                ctx.path,
                option.lineno,
                text,
                qualified=collection and _accessed(function, relationship, option.lineno),
            )


def _loaded_collection(corpus: Corpus, option: ast.expr) -> bool:
    node: ast.expr = option
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        node = node.func.value
    target = node.args[0] if isinstance(node, ast.Call) and node.args else None
    if not isinstance(target, ast.Attribute):
        return False
    model, attr = terminal(target.value), target.attr
    lazy = corpus.project.relationship(model, attr) == "select"  # not eager by declaration
    return lazy and (model, attr) in corpus.project.collections


def _get_with_options(call: ast.Call) -> bool:
    return any(k.arg == "options" for k in call.keywords) and terminal(call.func) in (
        "get",
        "get_one",
    )


def _options_of(call: ast.Call) -> Iterator[tuple[ast.AST, ast.expr]]:
    """Yield ``(holder, option)``: the ``.options()`` call or list an option sits in."""
    if terminal(call.func) == "options":
        for arg in call.args:
            yield call, arg
        return
    for keyword in call.keywords:
        if keyword.arg == "options" and isinstance(keyword.value, (ast.List, ast.Tuple)):
            for element in keyword.value.elts:
                yield keyword.value, element


def _loaded(option: ast.expr) -> str | None:
    """Return the relationship a loader option names first (``selectinload(A.b)`` → ``b``)."""
    node: ast.expr = option
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        node = node.func.value  # selectinload(A.b).selectinload(B.c): go to the first
    if not isinstance(node, ast.Call) or terminal(node.func) not in EAGER or not node.args:
        return None
    target = node.args[0]
    return target.attr if isinstance(target, ast.Attribute) else None


def _accessed(function: ast.AST, attr: str, after: int) -> bool:
    """Tell whether the function reads ``obj.attr`` after the statement (not ``Model.attr``)."""
    return any(
        isinstance(n, ast.Attribute)
        and n.attr == attr
        and isinstance(n.value, ast.Name)
        and not n.value.id[:1].isupper()
        and isinstance(n.ctx, ast.Load)
        and n.lineno > after
        for n in walk_local(function)
    )


def _without(source: str, call: ast.Call, holder: ast.AST, option: ast.expr) -> str:
    """Remove one option: the whole ``.options(x)`` when it is the only one."""
    elements = holder.args if isinstance(holder, ast.Call) else getattr(holder, "elts", [])
    if isinstance(holder, ast.Call) and len(elements) == 1 and not holder.keywords:
        assert isinstance(holder.func, ast.Attribute)
        _, receiver_end = segment(source, holder.func.value)
        _, call_end = segment(source, holder)
        return _splice(source, receiver_end, call_end, "")
    begin, end = segment(source, option)
    index = elements.index(option)
    if index + 1 < len(elements):
        end, _ = segment(source, elements[index + 1])
    elif index > 0:
        _, begin = segment(source, elements[index - 1])
    return _splice(source, begin, end, "")


def _drop_rollback(ctx: FileContext) -> Iterator[Mutation]:
    """``except IntegrityError: await s.rollback(); ...`` → ``pass`` (SQA009)."""
    for node in ctx.index.nodes(ast.Try):
        written = _written_sessions(node)
        for handler in node.handlers:
            for position, stmt in enumerate(handler.body):
                split = _rollback(stmt)
                if split is None or key(split) not in written:
                    continue
                begin, end = segment(ctx.source, stmt)
                qualified = _used_after(handler.body[position + 1 :], key(split)) or (
                    _in_loop(ctx, node) and not _leaves(handler) and _broad(handler)
                )
                yield Mutation(
                    "drop rollback",
                    "SQA009",
                    ctx.path,
                    stmt.lineno,
                    _splice(ctx.source, begin, end, "pass"),
                    qualified=qualified and _catches_db(handler),
                )


def _rollback(stmt: ast.stmt) -> ast.expr | None:
    if not isinstance(stmt, ast.Expr):
        return None
    value = stmt.value.value if isinstance(stmt.value, ast.Await) else stmt.value
    split = method_call(value)
    return split[0] if split is not None and split[1] == "rollback" else None


def _written_sessions(node: ast.Try) -> set[str]:
    found = set()
    for stmt in node.body:
        for n in (stmt, *walk_local(stmt)):
            split = method_call(n)
            if split is not None and split[1] in ("flush", "commit"):
                found.add(key(split[0]))
    return found


def _used_after(stmts: list[ast.stmt], name: str) -> bool:
    for stmt in stmts:
        for n in (stmt, *walk_local(stmt)):
            if isinstance(n, (ast.Name, ast.Attribute)) and key(n) == name:
                return True
    return False


def _in_loop(ctx: FileContext, node: ast.AST) -> bool:
    for ancestor in ctx.ancestors(node):
        if isinstance(ancestor, (*FUNCTIONS, ast.Lambda, ast.ClassDef)):
            return False
        if isinstance(ancestor, (ast.For, ast.AsyncFor, ast.While)):
            return True
    return False


def _leaves(handler: ast.ExceptHandler) -> bool:
    return any(
        isinstance(n, (ast.Raise, ast.Return, ast.Break))
        for stmt in handler.body
        for n in (stmt, *walk_local(stmt))
    )


def _caught(handler: ast.ExceptHandler) -> set[str]:
    caught = handler.type
    if caught is None:
        return {"BaseException"}
    names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
    return {terminal(n) for n in names}


def _catches_db(handler: ast.ExceptHandler) -> bool:
    return bool(_caught(handler) & (DB_ERRORS | BROAD))


def _broad(handler: ast.ExceptHandler) -> bool:
    return bool(_caught(handler) & (BROAD | {"SQLAlchemyError"}))
