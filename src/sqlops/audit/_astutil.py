"""Small, rule-agnostic helpers over `ast` nodes."""

from __future__ import annotations

import ast
from collections.abc import Iterator

_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def terminal(node: ast.AST) -> str:
    """Return the last name of ``a.b.c`` (``c``), or ``""`` for anything else."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def method_call(node: ast.AST) -> tuple[ast.expr, str] | None:
    """Split ``receiver.method(...)`` into its receiver and method name."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.value, node.func.attr
    return None


def is_none(node: ast.expr) -> bool:
    """Tell whether an annotation or value spells ``None``."""
    if isinstance(node, ast.Constant):
        return node.value is None or node.value == "None"
    return isinstance(node, ast.Name) and node.id == "None"


def walk_local(node: ast.AST) -> Iterator[ast.AST]:
    """Walk ``node``'s subtree without entering nested functions, lambdas or classes."""
    stack = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        yield child
        if not isinstance(child, _NESTED_SCOPES):
            stack.extend(ast.iter_child_nodes(child))


def same(a: ast.AST, b: ast.AST) -> bool:
    """Tell whether two expressions are spelled the same (``self.session`` == ``self.session``)."""
    return key(a) == key(b)


def key(node: ast.AST) -> str:
    """Return a comparable spelling of a name or attribute chain."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{key(node.value)}.{node.attr}"
    return ast.dump(node)


def decorator_names(func: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> list[str]:
    """Return the last name of each decorator (``@app.get("/")`` → ``get``)."""
    names = []
    for decorator in func.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        names.append(terminal(target))
    return names
