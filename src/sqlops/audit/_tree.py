"""Navigate one indexed file: parents, scopes, enclosing functions, test code."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from sqlops.audit._astutil import decorator_names
from sqlops.audit._index import FunctionNode, Index, Scope


class TreeView:
    """Answer where a node sits; mixed into `FileContext`."""

    path: str
    index: Index

    def parent(self, node: ast.AST) -> ast.AST | None:
        """Return the node directly containing ``node``."""
        return self.index.parents.get(node)

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        """Yield the enclosing nodes, innermost first."""
        parent = self.index.parents.get(node)
        while parent is not None:
            yield parent
            parent = self.index.parents.get(parent)

    def scope_of(self, node: ast.AST) -> Scope:
        """Return the scope an expression is evaluated in."""
        return self.index.scope_at.get(node, self.index.module)

    def function_of(self, node: ast.AST) -> FunctionNode | None:
        """Return the innermost ``def``/``async def`` around ``node`` (lambdas excluded)."""
        for ancestor in self.ancestors(node):
            if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return ancestor
        return None

    def is_test_code(self, node: ast.AST) -> bool:
        """Tell whether ``node`` is test code: under ``tests/``, a test module, test or fixture."""
        parts = self.path.replace("\\", "/").split("/")
        name = parts[-1]
        if name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py":
            return True
        if any(part in ("tests", "test") for part in parts[:-1]):
            return True
        for ancestor in (node, *self.ancestors(node)):
            if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                ancestor.name.startswith("test") or "fixture" in decorator_names(ancestor)
            ):
                return True
        return False

    def in_async_body(self, node: ast.AST) -> bool:
        """Tell whether ``node`` runs directly in an ``async def`` (not a nested def/lambda)."""
        return isinstance(self.scope_of(node).node, ast.AsyncFunctionDef)
