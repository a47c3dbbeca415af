"""Small, rule-agnostic helpers over `ast` nodes."""

from __future__ import annotations

import ast
from collections.abc import Iterator

_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_SCALARS = frozenset(
    {"int", "float", "bool", "Decimal", "UUID", "date", "datetime", "time", "timedelta", "None"}
)
_WRAPPERS = frozenset({"Optional", "ClassVar", "Final", "Annotated", "Union"})


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


def scalar_type(annotation: ast.expr) -> bool:
    """Tell whether an annotation names a number, bool, UUID or date (optionally ``| None``)."""
    if isinstance(annotation, ast.BinOp):  # int | None
        return scalar_type(annotation.left) and scalar_type(annotation.right)
    if isinstance(annotation, ast.Subscript) and terminal(annotation.value) in _WRAPPERS:
        inner = annotation.slice
        items = inner.elts if isinstance(inner, ast.Tuple) else [inner]
        return all(scalar_type(i) for i in items)
    if isinstance(annotation, ast.Constant):
        return annotation.value is None
    return terminal(annotation) in _SCALARS


def constant_attributes(cls: ast.ClassDef) -> Iterator[str]:
    """Yield the class attributes bound to numbers or annotated as numbers."""
    for stmt in cls.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else []
        if isinstance(stmt, ast.AnnAssign):
            targets = [stmt.target]
        for target in targets:
            if isinstance(target, ast.Name) and constant_attribute(cls, target.id):
                yield target.id


def constant_attribute(cls: ast.ClassDef, attr: str) -> bool:
    """Tell whether a class body binds ``attr`` to a number/bool, or annotates it so."""
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            if stmt.target.id == attr:
                return scalar_type(stmt.annotation)
        elif isinstance(stmt, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == attr for t in stmt.targets
        ):
            value = stmt.value
            return isinstance(value, ast.Constant) and isinstance(value.value, (int, float))
    return False
