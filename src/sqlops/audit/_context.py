"""Answer the one question every rule asks: what is this expression?

A `FileContext` wraps one parsed file, its `Index` and the `Project` facts
gathered from every scanned file (session factories, dependency providers,
repository attributes). `kind()` says whether an expression is an
``AsyncSession``, a sync ``Session``, an engine, a factory — or ``None`` when
it cannot tell, in which case no rule fires.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from sqlops.audit._annotations import AnnotationReader
from sqlops.audit._astutil import decorator_names, key, terminal
from sqlops.audit._evidence import PROOF, USAGE, Evidence
from sqlops.audit._index import Binding, FunctionNode, Index, Scope
from sqlops.audit._kinds import (
    ASYNC_TWIN,
    CONSTRUCTORS,
    DATABASE_PRODUCT,
    FACTORY_PRODUCT,
    SESSIONS,
    Kind,
    lookup,
)
from sqlops.audit._project import Project, Provider

NOTHING = object()
_CM_WRAPPERS = frozenset({"asynccontextmanager", "contextmanager"})


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


_CALL_WRAPPERS = frozenset({"Depends", "Security", "Provide"})


class FileContext(AnnotationReader):
    """Hold one file's source, index and the inference that rules share."""

    def __init__(self, path: str, source: str, tree: ast.Module, project: Project) -> None:
        self.path = path
        self.source = source
        self.tree = tree
        self.index = Index(tree)
        self.project = project
        self.uses_sqlops = any(q.split(".", 1)[0] == "sqlops" for q in self.index.imports.values())
        self._names: dict[tuple[int, str], Kind | object | None] = {}
        self.evidence = Evidence(self.index)

    def reset(self) -> None:
        """Forget cached answers once more project facts are known."""
        self._names.clear()

    # -- tree navigation -------------------------------------------------

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

    def callee(self, call: ast.Call) -> str:
        """Return the qualified name of what a call calls (``""`` when not a name)."""
        return self.qualname(call.func)

    # -- kinds -----------------------------------------------------------

    def kind(self, node: ast.AST) -> Kind | None:
        """Return what ``node`` is, or ``None`` when it cannot be known for sure."""
        return self.kind_in(node, self.scope_of(node))

    def kind_in(self, node: ast.AST, scope: Scope) -> Kind | None:
        """Return the kind of ``node`` evaluated in ``scope``."""
        if isinstance(node, ast.Name):
            narrowed = self._narrowed(node)
            if narrowed is not None:
                return narrowed
            return self._in_code(node, scope, self.name_kind(node.id, scope))
        if isinstance(node, ast.Attribute):
            return self._in_code(node, scope, self._attribute_kind(node, scope))
        if isinstance(node, ast.Call):
            return self.call_kind(node, scope)
        if isinstance(node, ast.Await) and isinstance(node.value, ast.Call):
            return self._await_kind(node.value, scope)
        return None

    def _in_code(self, node: ast.expr, scope: Scope, kind: Kind | None) -> Kind | None:
        """Let the code overrule or fill in an annotation (see `Evidence`)."""
        if kind is not None and kind not in ASYNC_TWIN:
            return kind
        awaited = self.evidence.awaited(scope.node, key(node))
        if kind is None:
            proven = awaited == PROOF and not self._sometimes_sync(node, scope)
            return Kind.ASYNC_SESSION if proven else None
        return ASYNC_TWIN[kind] if awaited is not None else kind

    def _narrowed(self, node: ast.Name) -> Kind | None:
        """Return the kind an enclosing ``if isinstance(name, AsyncSession):`` proves."""
        child: ast.AST = node
        for ancestor in self.ancestors(node):
            if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                return None
            if isinstance(ancestor, ast.If) and child in ancestor.body:
                test = ancestor.test
                if (
                    isinstance(test, ast.Call)
                    and isinstance(test.func, ast.Name)
                    and test.func.id == "isinstance"
                    and len(test.args) == 2
                    and isinstance(test.args[0], ast.Name)
                    and test.args[0].id == node.id
                ):
                    return self.annotation_kind(test.args[1])
            child = ancestor
        return None

    def used_as_session(self, node: ast.expr) -> bool:
        """Tell whether the code uses an untyped name the way only a session is used."""
        scope = self.scope_of(node)
        awaited = self.evidence.awaited(scope.node, key(node))
        return awaited in (PROOF, USAGE) and not self._sometimes_sync(node, scope)

    def _sometimes_sync(self, node: ast.expr, scope: Scope) -> bool:
        """Tell whether a name is bound to a sync session or connection somewhere.

        ``async with AsyncSession(e) as s`` in one branch and ``with Session(e) as s``
        in the other: awaiting ``s`` in the first says nothing about the second.
        """
        if not isinstance(node, ast.Name):
            return False
        found = self._lookup(node.id, scope)
        if found is None or len(found[1]) < 2:
            return False
        owner, bindings = found
        return any(self.binding_kind(b, owner) in ASYNC_TWIN for b in bindings)

    def name_kind(self, name: str, scope: Scope) -> Kind | None:
        """Resolve a bare name through the scope chain, then the project."""
        found = self._lookup(name, scope)
        if found is None:
            return self.project.value(name)
        owner, bindings = found
        key = (id(owner), name)
        cached = self._names.get(key, NOTHING)
        if cached is not NOTHING:
            return cached  # type: ignore[return-value]
        self._names[key] = None  # a cycle resolves to "unknown"
        kind = self._merge(self.binding_kind(b, owner) for b in bindings)
        self._names[key] = kind
        return kind

    def _lookup(self, name: str, scope: Scope) -> tuple[Scope, list[Binding]] | None:
        current: Scope | None = scope
        first = True
        while current is not None:
            if (first or not current.is_class) and name in current.bindings:
                return current, current.bindings[name]
            first = False
            current = current.parent
        return None

    @staticmethod
    def _merge(kinds: Iterator[Kind | object | None]) -> Kind | None:
        seen: set[Kind | None] = set()
        for kind in kinds:
            if kind is not NOTHING:
                seen.add(kind)  # type: ignore[arg-type]
        return seen.pop() if len(seen) == 1 else None

    def binding_kind(self, binding: Binding, scope: Scope) -> Kind | object | None:
        how, value = binding.how, binding.value
        if how in ("assign", "annot"):
            if binding.annotation is not None:
                kind = self.annotation_kind(binding.annotation)
                if kind is not None or value is None:
                    return kind
            if value is None or (isinstance(value, ast.Constant) and value.value is None):
                return NOTHING
            return self.kind_in(value, scope)
        if how == "param":
            if binding.annotation is not None:
                kind = self.annotation_kind(binding.annotation)
                if kind is not None:
                    return kind
            if value is not None:
                return self.depends_kind(value, scope)
            return self._fixture_kind(binding, scope)
        return self._other_binding_kind(binding, scope)

    def _fixture_kind(self, binding: Binding, scope: Scope) -> Kind | None:
        """Return what pytest injects into an unannotated test or fixture parameter."""
        if binding.annotation is not None or not binding.qualname:
            return None
        if not self.is_test_code(scope.node):
            return None
        return self.project.fixture(binding.qualname)

    def _other_binding_kind(self, binding: Binding, scope: Scope) -> Kind | None:
        how, value = binding.how, binding.value
        if how in ("with", "async_with") and value is not None:
            return self.with_kind(value, scope, is_async=how == "async_with")
        if how == "async_for" and isinstance(value, ast.Call):
            provider = self.provider_of(value.func, scope)
            return provider.kind if provider and provider.is_generator else None
        if how == "import":
            return self.project.value(binding.qualname.rsplit(".", 1)[-1])
        return None

    def self_class(self, name: str, scope: Scope) -> ast.ClassDef | None:
        """Return the class whose instance ``name`` is (``self``/``cls`` in a method)."""
        current: Scope | None = scope
        while current is not None:
            if current.self_name == name:
                return current.cls
            if name in current.bindings and not current.is_class:
                return None
            current = current.parent
        return None

    def param_annotation(self, name: str, scope: Scope) -> ast.expr | None:
        """Return the annotation of parameter ``name`` if that is its only binding."""
        found = self._lookup(name, scope)
        if found is None or len(found[1]) != 1 or found[1][0].how != "param":
            return None
        return found[1][0].annotation

    def _attribute_kind(self, node: ast.Attribute, scope: Scope) -> Kind | None:
        base = node.value
        if isinstance(base, ast.Name):
            cls = self.self_class(base.id, scope)
            if cls is not None:
                return self.project.attribute(cls.name, node.attr)
            annotation = self.param_annotation(base.id, scope)
            if isinstance(annotation, (ast.Name, ast.Attribute)):  # ``repo: UserRepository``
                return self.project.attribute(terminal(annotation), node.attr)
            found = self._lookup(base.id, scope)
            if found and all(b.how == "module" for b in found[1]):
                return self.project.value(node.attr)
        elif isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name):
            cls = self.self_class(base.value.id, scope)  # ``self.repo.session``
            member = self.project.member_class(cls.name, base.attr) if cls else None
            if member is not None:
                return self.project.attribute(member, node.attr)
        database = self.kind_in(base, scope) if node.attr == "engine" else None
        if database in DATABASE_PRODUCT:
            return DATABASE_PRODUCT[database][1]
        return None

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
