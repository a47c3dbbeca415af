"""What the code itself says about an untyped name: how it is awaited and used.

``await session.flush()`` says ``session`` is an ``AsyncSession`` whatever its
annotation says (or does not say). Two strengths are kept apart:

* *proof* — a method only SQLAlchemy's ``AsyncSession`` has among common async
  libraries is awaited on the name (``flush``, ``refresh``, ``scalars``...), or a
  ``Session``-annotated name is awaited for a database call. Every rule may use it.
* *usage* — the name is awaited for ``execute()`` of a SQLAlchemy statement
  (``select(...)``, ``insert(...)``, ``text(...)``), or awaited for a database call
  while also used through session-only plain attributes (``add``, ``bind``,
  ``begin_nested``...). Enough to say a dropped ``commit()`` is a bug (SQA001),
  not enough to reason about concurrency or transactions.
"""

from __future__ import annotations

import ast
from collections import defaultdict

from sqlops.audit._astutil import key, method_call, terminal
from sqlops.audit._index import Index
from sqlops.audit._kinds import IO_METHODS, SESSION_ONLY_METHODS

_STATEMENTS = frozenset(
    {"select", "insert", "update", "delete", "text", "union", "union_all", "exists"}
)
_EXECUTE = frozenset({"execute", "stream", "scalar", "scalars"})
_SESSION_ATTRS = frozenset(
    {
        "add",
        "add_all",
        "expunge",
        "expunge_all",
        "begin_nested",
        "no_autoflush",
        "bind",
        "get_bind",
        "sync_session",
        "identity_map",
        "in_transaction",
    }
)
PROOF, USAGE = "proof", "usage"


class Evidence:
    """Index, per scope, the receivers the code awaits for database calls."""

    def __init__(self, index: Index) -> None:
        self._awaited: defaultdict[ast.AST, dict[str, str]] = defaultdict(dict)
        attrs: defaultdict[ast.AST, set[str]] = defaultdict(set)
        for attribute in index.nodes(ast.Attribute):
            if attribute.attr in _SESSION_ATTRS:
                attrs[index.scope_at[attribute].node].add(key(attribute.value))
        for node in index.nodes(ast.Await):
            split = method_call(node.value)
            if split is None or split[1] not in IO_METHODS:
                continue
            assert isinstance(node.value, ast.Call)
            scope = index.scope_at[node].node
            receiver = key(split[0])
            found = self._awaited[scope]
            if split[1] in SESSION_ONLY_METHODS:
                found[receiver] = PROOF
            elif found.get(receiver) != PROOF:
                usage = receiver in attrs[scope] or (
                    split[1] in _EXECUTE and _sqlalchemy_statement(node.value, index, scope)
                )
                if usage or receiver not in found:
                    found[receiver] = USAGE if usage else ""

    def awaited(self, scope: ast.AST, receiver: str) -> str | None:
        """Return ``proof``, ``usage``, ``""`` (awaited, nothing more) or ``None``."""
        return self._awaited.get(scope, {}).get(receiver)


def _sqlalchemy_statement(call: ast.Call, index: Index, scope: ast.AST) -> bool:
    """Tell whether ``execute()``'s first argument is built by SQLAlchemy's constructors."""
    if not call.args:
        return False
    statement = call.args[0]
    if isinstance(statement, ast.Name):
        owner = index.scopes.get(scope)
        bindings = owner.bindings.get(statement.id, []) if owner is not None else []
        values = [b.value for b in bindings if b.how == "assign" and b.value is not None]
        return bool(values) and len(values) == len(bindings) and all(_built(v) for v in values)
    return _built(statement)


def _built(expr: ast.expr) -> bool:
    node = expr
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        node = node.func.value  # select(X).where(...).order_by(...)
    if isinstance(node, ast.Name):
        return False
    return isinstance(node, ast.Call) and terminal(node.func) in _STATEMENTS
