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

from sqlops.audit._astutil import key, terminal
from sqlops.audit._calls import CallReader
from sqlops.audit._evidence import PROOF, USAGE, Evidence
from sqlops.audit._index import Binding, Index, Scope
from sqlops.audit._kinds import ASYNC_TWIN, DATABASE_PRODUCT, Kind
from sqlops.audit._project import Project
from sqlops.audit._tree import TreeView

NOTHING = object()


class FileContext(CallReader, TreeView):
    """Hold one file's source, index and the inference that rules share.

    Names, bindings and attributes are read here; calls, ``with`` targets and
    dependencies in `CallReader`; annotations in `AnnotationReader`; where a node
    sits in `TreeView`.
    """

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
