"""What a call, a ``with`` or a dependency produces: constructors, factories, providers.

``AsyncSession(engine)``, ``SessionLocal()``, ``engine.begin()``, ``db.session()``,
``Depends(get_db)``: the second half of the kind inference, mixed into `FileContext`.
"""

from __future__ import annotations

import ast

from sqlops.audit._annotations import AnnotationReader
from sqlops.audit._astutil import terminal
from sqlops.audit._index import Binding, Scope
from sqlops.audit._kinds import (
    CONSTRUCTORS,
    DATABASE_PRODUCT,
    FACTORY_PRODUCT,
    SESSIONS,
    Kind,
    lookup,
)
from sqlops.audit._project import Provider

_CM_WRAPPERS = frozenset({"asynccontextmanager", "contextmanager"})
_CALL_WRAPPERS = frozenset({"Depends", "Security", "Provide"})


def _names_function(binding: Binding) -> bool:
    """Tell whether a binding names a function: a def, an import, ``asynccontextmanager(f)``."""
    if binding.how in ("import", "def"):
        return True
    value = binding.value
    return (
        binding.how == "assign"
        and isinstance(value, ast.Call)
        and terminal(value.func) in _CM_WRAPPERS
    )


class CallReader(AnnotationReader):
    """Turn calls into kinds; `FileContext` supplies names and scopes."""

    uses_sqlops: bool

    def kind_in(self, node: ast.AST, scope: Scope) -> Kind | None:
        """Return the kind of ``node`` evaluated in ``scope`` (see `FileContext`)."""
        raise NotImplementedError

    def _lookup(self, name: str, scope: Scope) -> tuple[Scope, list[Binding]] | None:
        raise NotImplementedError

    def callee(self, call: ast.Call) -> str:
        """Return the qualified name of what a call calls (``""`` when not a name)."""
        return self.qualname(call.func)

    def call_kind(self, call: ast.Call, scope: Scope) -> Kind | None:
        """Return the kind of the value a call produces (not awaited)."""
        name = self.callee(call)
        if name and self.is_imported(call.func, scope):
            built = self.constructed(call, name)
            if built is not None:
                return built
        func_kind = self.kind_in(call.func, scope)
        if func_kind in FACTORY_PRODUCT:
            return FACTORY_PRODUCT[func_kind]
        if func_kind in SESSIONS:  # a scoped_session registry returns its session
            return func_kind
        if isinstance(call.func, ast.Attribute):
            made = self._method_product(call.func, scope)
            if made is not None:
                return made
        provider = self.provider_of(call.func, scope)
        if provider and not provider.is_async and not provider.is_generator:
            return provider.kind
        return None

    def is_imported(self, node: ast.expr, scope: Scope) -> bool:
        """Tell whether a name (or ``a.b.c``'s root) comes from an import, not a local value.

        ``sessionmaker = create_async_sessionmaker(engine)`` shadows SQLAlchemy's
        ``sessionmaker``; calling it must not be read as building a sync factory.
        """
        while isinstance(node, ast.Attribute):
            node = node.value
        if not isinstance(node, ast.Name):
            return False
        found = self._lookup(node.id, scope)
        return found is None or all(b.how in ("import", "module") for b in found[1])

    def constructed(self, call: ast.Call, name: str) -> Kind | None:
        """Return what a library constructor (``AsyncSession()``, ``create_engine()``) builds."""
        if name.rsplit(".", 1)[-1] == "Database" and name.split(".", 1)[0] == "sqlops":
            return Kind.SYNC_DATABASE if name.startswith("sqlops.sync.") else Kind.DATABASE
        kind = lookup(CONSTRUCTORS, name)
        if kind is Kind.SYNC_FACTORY and self._async_class(call):
            return Kind.ASYNC_FACTORY
        return kind

    def _async_class(self, call: ast.Call) -> bool:
        for keyword in call.keywords:
            if keyword.arg == "class_":
                return self.qualname(keyword.value).endswith("AsyncSession")
        return False

    def _method_product(self, func: ast.Attribute, scope: Scope) -> Kind | None:
        receiver = self.kind_in(func.value, scope)
        if func.attr in ("connect", "begin"):
            if receiver is Kind.ASYNC_ENGINE:
                return Kind.ASYNC_CONNECTION
            if receiver is Kind.SYNC_ENGINE:
                return Kind.SYNC_CONNECTION
        if receiver in DATABASE_PRODUCT and func.attr in ("session", "transaction"):
            return DATABASE_PRODUCT[receiver][0]
        if receiver in FACTORY_PRODUCT and func.attr == "begin":  # sessionmaker.begin()
            return FACTORY_PRODUCT[receiver]
        return None

    def _await_kind(self, call: ast.Call, scope: Scope) -> Kind | None:
        func = call.func
        if isinstance(func, ast.Attribute):
            receiver = self.kind_in(func.value, scope)
            if (receiver, func.attr) in (
                (Kind.ASYNC_ENGINE, "connect"),
                (Kind.ASYNC_SESSION, "connection"),
            ):
                return Kind.ASYNC_CONNECTION
        provider = self.provider_of(func, scope)
        if provider and provider.is_async and not provider.is_generator:
            return provider.kind
        return None

    def with_kind(self, expr: ast.expr, scope: Scope, *, is_async: bool) -> Kind | None:
        """Return what ``with expr as name`` binds ``name`` to."""
        if not isinstance(expr, ast.Call):
            kind = self.kind_in(expr, scope)
            return kind if kind in SESSIONS else None
        func = expr.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr in ("begin", "begin_nested")
            and self.kind_in(func.value, scope) in SESSIONS
        ):
            return None  # binds the SessionTransaction, not a session
        kind = self.call_kind(expr, scope)
        if kind is not None:
            return kind
        if is_async and self._sqlops_session(expr, scope):
            return Kind.ASYNC_SESSION
        provider = self.provider_of(func, scope)
        if provider is not None and (provider.is_async == is_async or not provider.is_generator):
            return provider.kind
        return None

    def _sqlops_session(self, call: ast.Call, scope: Scope) -> bool:
        func = call.func
        if not isinstance(func, ast.Attribute) or func.attr not in ("session", "transaction"):
            return False
        return self.uses_sqlops and self.kind_in(func.value, scope) is None

    def provider_of(self, func: ast.expr, scope: Scope) -> Provider | None:
        """Return what a called (or injected) function provides, if it is a known provider."""
        if isinstance(func, ast.Name):
            found = self._lookup(func.id, scope)
            if found is None or not all(_names_function(b) for b in found[1]):
                return None  # a builtin, or a local value
            name = func.id
            for binding in found[1]:
                if binding.how == "import":
                    name = binding.qualname.rsplit(".", 1)[-1]
            return self.project.provider(name)
        if isinstance(func, ast.Attribute):
            root = func.value
            if isinstance(root, ast.Name):
                found = self._lookup(root.id, scope)
                if found and all(b.how == "module" for b in found[1]):
                    return self.project.provider(func.attr)
            return self.project.provider(func.attr, method=True)
        return None

    def depends_kind(self, default: ast.expr, scope: Scope) -> Kind | None:
        """Return the kind a FastAPI-style ``Depends(provider)`` default injects."""
        if not isinstance(default, ast.Call) or terminal(default.func) not in _CALL_WRAPPERS:
            return None
        target = default.args[0] if default.args else None
        for keyword in default.keywords:
            if keyword.arg == "dependency":
                target = keyword.value
        if target is None:
            return None
        provider = self.provider_of(target, scope)
        if provider is not None:
            return provider.kind
        return self.project.value(terminal(target)) if isinstance(target, ast.Name) else None
