"""Read type annotations: ``AsyncSession | None``, ``Annotated[...]``, aliases, generators.

Annotations are the strongest evidence the audit has: ``db: AsyncSession`` or
``SessionDep`` or ``-> AsyncIterator[AsyncSession]`` say what a name is without
any guessing.
"""

from __future__ import annotations

import ast

from sqlops.audit._astutil import is_none, terminal
from sqlops.audit._index import Index
from sqlops.audit._kinds import SESSIONS, TYPE_NAMES, Kind, lookup
from sqlops.audit._project import Project

_WRAPPERS = frozenset({"Optional", "Annotated", "Union", "Final", "ClassVar", "Required"})
_CONTAINER_RETURNS = frozenset(
    {
        "AsyncGenerator",
        "AsyncIterator",
        "AsyncIterable",
        "Generator",
        "Iterator",
        "Iterable",
        "Awaitable",
        "AsyncContextManager",
        "AbstractAsyncContextManager",
        "ContextManager",
        "AbstractContextManager",
    }
)


class AnnotationReader:
    """Turn annotation expressions into kinds; mixed into `FileContext`."""

    index: Index
    project: Project

    def qualname(self, node: ast.AST) -> str:
        """Spell a dotted name with its import resolved (``sa.text`` is ``sqlalchemy.text``)."""
        if isinstance(node, ast.Name):
            return self.index.imports.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualname(node.value)
            return f"{base}.{node.attr}" if base else ""
        return ""

    def annotation_kind(self, node: ast.expr) -> Kind | None:
        """Return the kind a type annotation declares (``AsyncSession | None`` too)."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            parsed = parse_annotation(node.value)
            return self.annotation_kind(parsed) if parsed is not None else None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self._union_kind([node.left, node.right])
        if isinstance(node, ast.Subscript):
            return self._subscript_kind(node)
        if isinstance(node, (ast.Name, ast.Attribute)):
            name = self.qualname(node)
            kind = lookup(TYPE_NAMES, name)
            if kind is not None:
                return kind
            if name.rsplit(".", 1)[-1] == "Database" and name.startswith("sqlops"):
                return Kind.SYNC_DATABASE if name.startswith("sqlops.sync") else Kind.DATABASE
            return self.project.alias(terminal(node))
        return None

    def _subscript_kind(self, node: ast.Subscript) -> Kind | None:
        base = terminal(node.value)
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base in _WRAPPERS:
            return self._union_kind(items if base in ("Optional", "Union") else items[:1])
        if base == "async_sessionmaker":
            return Kind.ASYNC_FACTORY  # whatever it is parametrised with
        if base == "sessionmaker":
            inner = self.annotation_kind(items[0])
            if inner is Kind.ASYNC_SESSION:
                return Kind.ASYNC_FACTORY
            return Kind.SYNC_FACTORY if inner is Kind.SYNC_SESSION else None
        if base in ("scoped_session", "async_scoped_session"):
            inner = self.annotation_kind(items[0])  # the registry proxies its session
            return inner if inner in SESSIONS else None
        return None

    def _union_kind(self, items: list[ast.expr]) -> Kind | None:
        kinds = {self.annotation_kind(i) for i in items if not is_none(i)}
        return kinds.pop() if len(kinds) == 1 else None

    def returns_kind(self, node: ast.expr) -> Kind | None:
        """Return the kind a function's return annotation provides (generators unwrapped)."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            parsed = parse_annotation(node.value)
            return self.returns_kind(parsed) if parsed is not None else None
        if isinstance(node, ast.Subscript) and terminal(node.value) in _CONTAINER_RETURNS:
            items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            return self.annotation_kind(items[0])
        return self.annotation_kind(node)


def parse_annotation(text: str) -> ast.expr | None:
    """Parse a string annotation; ``None`` if it is not an expression."""
    try:
        return ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
