"""Find the one assignment that certainly gives a name its value at a point of use.

``user = await db.get(User, 1)`` ... ``user = other`` ... ``user.addresses``: which
``user`` is read? Walking up from the use, the nearest earlier statement in an
enclosing block that assigns the name is the reaching definition — as long as no
statement in between assigns it inside a nested block (an ``if``, a loop, a
``try``), in which case nothing is certain and the answer is ``None``.
"""

from __future__ import annotations

import ast
from typing import NamedTuple

from sqlops.audit._context import FileContext

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.Module)
_BLOCKS = ("body", "orelse", "finalbody", "handlers")
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


class Definition(NamedTuple):
    """Say how the name got its value: ``assign`` (``value``) or ``for`` (``value`` = iter)."""

    how: str
    value: ast.expr


def reaching(ctx: FileContext, use: ast.Name) -> Definition | None:
    """Return the assignment that reaches ``use``, or ``None`` when it is not certain."""
    child: ast.AST = use
    for ancestor in ctx.ancestors(use):
        if isinstance(ancestor, _COMPREHENSIONS):
            per_item = _comprehension_target(ancestor, child, use.id)
            if per_item is not None:
                return per_item
        if _loop_target(ancestor, child, use.id):
            assert isinstance(ancestor, (ast.For, ast.AsyncFor))
            if _assigns(ancestor.body, use.id):
                return None
            how = "async_for" if isinstance(ancestor, ast.AsyncFor) else "for"
            return Definition(how, ancestor.iter)
        block = _block_of(ancestor, child) if isinstance(child, ast.stmt) else None
        if block is not None and isinstance(child, ast.stmt):
            found = _earlier(block, block.index(child), use.id)
            if found is not False:
                return found if isinstance(found, Definition) else None
        if isinstance(ancestor, _SCOPES):
            return None
        child = ancestor
    return None


def _comprehension_target(node: ast.AST, child: ast.AST, name: str) -> Definition | None:
    """Return ``[... for name in iterable]``'s binding when ``child`` is evaluated per item."""
    generators = getattr(node, "generators", [])
    if child in generators:
        return None  # the iterable itself: evaluated outside
    for generator in reversed(generators):
        target = generator.target
        if isinstance(target, ast.Name) and target.id == name:
            return Definition("for", generator.iter)
    return None


def _loop_target(node: ast.AST, child: ast.AST, name: str) -> bool:
    """Tell whether ``node`` is a ``for`` loop over ``name`` whose body holds ``child``."""
    return (
        isinstance(node, (ast.For, ast.AsyncFor))
        and child in node.body
        and isinstance(node.target, ast.Name)
        and node.target.id == name
    )


def _block_of(parent: ast.AST, child: ast.stmt) -> list[ast.stmt] | None:
    for name in _BLOCKS:
        block = getattr(parent, name, None)
        if isinstance(block, list) and child in block:
            return block
    return None


def _earlier(block: list[ast.stmt], position: int, name: str) -> Definition | bool | None:
    """Search backwards: a definition, ``None`` (uncertain), or ``False`` (not here)."""
    for stmt in reversed(block[:position]):
        direct = _direct(stmt, name)
        if direct is not None:
            return direct
        if isinstance(stmt, (ast.With, ast.AsyncWith)) and not _binds_item(stmt, name):
            found = _earlier(stmt.body, len(stmt.body), name)  # a with body always runs
            if found is not False:
                return found
            continue
        if _try_falls_through_body(stmt, name):
            assert isinstance(stmt, ast.Try)
            found = _earlier(stmt.body, len(stmt.body), name)
            if found is not False:
                return found
            continue
        if _assigns([stmt], name):
            return None
    return False


def _try_falls_through_body(stmt: ast.stmt, name: str) -> bool:
    """Tell whether code after a ``try`` is reached only through its body.

    True when every handler ends in ``return``/``raise`` and neither ``else`` nor
    ``finally`` rebinds the name.
    """
    if not isinstance(stmt, ast.Try) or not stmt.handlers:
        return False
    leaves = all(h.body and isinstance(h.body[-1], (ast.Return, ast.Raise)) for h in stmt.handlers)
    return leaves and not _assigns([*stmt.orelse, *stmt.finalbody], name)


def _binds_item(stmt: ast.With | ast.AsyncWith, name: str) -> bool:
    return any(
        item.optional_vars is not None and _assigns([ast.Expr(item.optional_vars)], name)
        for item in stmt.items
    )


def _direct(stmt: ast.stmt, name: str) -> Definition | None:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
        if isinstance(target, ast.Name) and target.id == name:
            return Definition("assign", stmt.value)
    if not isinstance(stmt, ast.AnnAssign) or stmt.value is None:
        return None
    annotated = stmt.target
    if isinstance(annotated, ast.Name) and annotated.id == name:
        return Definition("assign", stmt.value)
    return None


def _assigns(stmts: list[ast.stmt], name: str) -> bool:
    """Tell whether any of the statements (nested blocks included) rebinds ``name``."""
    for stmt in stmts:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
                return True
            if isinstance(node, (ast.Global, ast.Nonlocal)) and name in node.names:
                return True
    return False
