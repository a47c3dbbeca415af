"""Walk a module once: parents, scopes, bindings and nodes grouped by type.

Every rule reads this index instead of walking the tree again, so a file costs
one parse and one walk however many rules run.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

N = TypeVar("N", bound=ast.AST)
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
SCOPE_NODES = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


class Binding(NamedTuple):
    """Record one way a name gets a value; the kind is worked out lazily.

    ``how`` is one of ``assign``, ``annot``, ``param``, ``with``, ``async_with``,
    ``for``, ``for_item`` (one name of an unpacked ``for`` target), ``async_for``,
    ``import``, ``module``, ``def`` or ``unknown``.
    """

    how: str
    value: ast.expr | None = None
    annotation: ast.expr | None = None
    qualname: str = ""


UNKNOWN = Binding("unknown")


@dataclass(eq=False)
class Scope:
    """Hold the names bound in one module, class, function or lambda."""

    node: ast.AST
    parent: Scope | None
    is_class: bool = False
    cls: ast.ClassDef | None = None
    self_name: str | None = None
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    returns: list[ast.expr | None] = field(default_factory=list)
    yields: list[ast.expr | None] = field(default_factory=list)

    def bind(self, name: str, binding: Binding) -> None:
        """Add one binding of ``name`` in this scope."""
        self.bindings.setdefault(name, []).append(binding)


class SelfAttr(NamedTuple):
    """Record ``self.<attr> = value`` (or annotated) inside a method."""

    cls: ast.ClassDef
    scope: Scope
    attr: str
    binding: Binding


class Index:
    """Index one parsed module."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.parents: dict[ast.AST, ast.AST] = {}
        self.scope_at: dict[ast.AST, Scope] = {}
        self.scopes: dict[ast.AST, Scope] = {}
        self._by_callee: defaultdict[str, list[ast.Call]] = defaultdict(list)
        self.imports: dict[str, str] = {}
        self.self_attrs: list[SelfAttr] = []
        self._by_type: defaultdict[type[ast.AST], list[ast.AST]] = defaultdict(list)
        self.module = Scope(tree, None)
        self.scopes[tree] = self.module
        self._walk()

    def functions(self) -> list[FunctionNode]:
        """Return every ``def`` and ``async def``."""
        return [*self.nodes(ast.FunctionDef), *self.nodes(ast.AsyncFunctionDef)]

    def calls(self, *names: str) -> list[ast.Call]:
        """Return the calls whose callee's last name is one of ``names`` (``f()``, ``x.f()``)."""
        found: list[ast.Call] = []
        for name in names:
            found.extend(self._by_callee.get(name, ()))
        return found

    def nodes(self, kind: type[N]) -> list[N]:
        """Return every node of exactly this type, in no particular order."""
        return self._by_type.get(kind, [])  # type: ignore[return-value]

    def _walk(self) -> None:
        """Visit every node once (hand-inlined: ``ast.iter_child_nodes`` is the hot spot)."""
        parents, by_type, binders, fields = self.parents, self._by_type, _BINDERS, _FIELDS
        scope_at, by_callee = self.scope_at, self._by_callee
        node_type, call_type, attribute_type, name_type = ast.AST, ast.Call, ast.Attribute, ast.Name
        stack: list[tuple[ast.AST, Scope]] = [(self.tree, self.module)]
        pop, push = stack.pop, stack.append
        while stack:
            node, scope = pop()
            kind = type(node)
            by_type[kind].append(node)
            scope_at[node] = scope
            if kind is call_type:
                func = node.func  # type: ignore[attr-defined]
                if type(func) is attribute_type:
                    by_callee[func.attr].append(node)  # type: ignore[arg-type]
                elif type(func) is name_type:
                    by_callee[func.id].append(node)  # type: ignore[arg-type]
            binder = binders.get(kind)
            if binder is not None:
                binder(self, node, scope)
            inner = self._open_scope(node, scope) if kind in _SCOPE_TYPES else scope
            names = fields.get(kind)
            if names is None:
                names = fields[kind] = tuple(f for f in kind._fields if f != "ctx")
            for name in names:
                value = getattr(node, name, None)
                if type(value) is list:
                    for item in value:
                        if isinstance(item, node_type):
                            parents[item] = node
                            push((item, inner))
                elif isinstance(value, node_type):
                    parents[value] = node
                    push((value, inner))

    def _open_scope(self, node: ast.AST, outer: Scope) -> Scope:
        if isinstance(node, ast.Module):
            return outer
        if isinstance(node, ast.ClassDef):
            scope = Scope(node, outer, is_class=True)
        else:
            assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            scope = Scope(node, outer)
            _bind_arguments(scope, node, outer)
        self.scopes[node] = scope
        return scope

    def add_import(self, local: str, qualname: str) -> None:
        """Record where a name comes from; a name imported from two places is left bare."""
        if self.imports.get(local, qualname) != qualname:
            qualname = local
        self.imports[local] = qualname

    def bind_target(self, target: ast.expr, binding: Binding, scope: Scope) -> None:
        """Bind an assignment target; unpacking makes every name unknown."""
        if isinstance(target, ast.Name):
            scope.bind(target.id, binding)
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            if scope.cls is not None and target.value.id == scope.self_name:
                self.self_attrs.append(SelfAttr(scope.cls, scope, target.attr, binding))
        elif isinstance(target, (ast.Tuple, ast.List, ast.Starred)):
            for name in _names_in(target):
                scope.bind(name, UNKNOWN)


def _names_in(target: ast.AST) -> Iterator[str]:
    for node in ast.walk(target):
        if isinstance(node, ast.Name):
            yield node.id


def _bind_arguments(
    scope: Scope, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, outer: Scope
) -> None:
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += args.defaults
    pairs = [
        *zip(positional, defaults, strict=True),
        *zip(args.kwonlyargs, args.kw_defaults, strict=True),
    ]
    pairs += [(arg, None) for arg in (args.vararg, args.kwarg) if arg is not None]
    for arg, default in pairs:
        scope.bind(arg.arg, Binding("param", default, arg.annotation, qualname=arg.arg))
    if not outer.is_class or not positional or isinstance(node, ast.Lambda):
        return
    if not any(_decorator_name(d) == "staticmethod" for d in node.decorator_list):
        assert isinstance(outer.node, ast.ClassDef)
        scope.cls = outer.node
        scope.self_name = positional[0].arg


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _bind_assign(index: Index, node: ast.AST, scope: Scope) -> None:
    assert isinstance(node, ast.Assign)
    for target in node.targets:
        index.bind_target(target, Binding("assign", node.value), scope)


def _bind_annassign(index: Index, node: ast.AST, scope: Scope) -> None:
    assert isinstance(node, ast.AnnAssign)
    index.bind_target(node.target, Binding("annot", node.value, node.annotation), scope)


def _bind_augassign(index: Index, node: ast.AST, scope: Scope) -> None:
    assert isinstance(node, ast.AugAssign)
    index.bind_target(node.target, UNKNOWN, scope)


def _bind_namedexpr(index: Index, node: ast.AST, scope: Scope) -> None:
    assert isinstance(node, ast.NamedExpr)
    scope.bind(node.target.id, Binding("assign", node.value))


def _bind_for(index: Index, node: ast.AST, scope: Scope) -> None:
    assert isinstance(node, (ast.For, ast.AsyncFor))
    how = "async_for" if isinstance(node, ast.AsyncFor) else "for"
    target = node.target
    if isinstance(target, ast.Tuple) and how == "for":  # for key, value in mapping.items()
        for name in _names_in(target):
            scope.bind(name, Binding("for_item", node.iter))
        return
    binding = Binding(how, node.iter) if isinstance(target, ast.Name) else UNKNOWN
    index.bind_target(target, binding, scope)


def _bind_with(index: Index, node: ast.AST, scope: Scope) -> None:
    assert isinstance(node, (ast.With, ast.AsyncWith))
    how = "async_with" if isinstance(node, ast.AsyncWith) else "with"
    for item in node.items:
        if item.optional_vars is not None:
            target = item.optional_vars
            binding = Binding(how, item.context_expr) if isinstance(target, ast.Name) else UNKNOWN
            index.bind_target(target, binding, scope)


def _bind_comprehension(index: Index, node: ast.AST, scope: Scope) -> None:
    assert isinstance(node, ast.comprehension)
    for name in _names_in(node.target):
        scope.bind(name, UNKNOWN)


def _bind_name_attr(index: Index, node: ast.AST, scope: Scope) -> None:
    name = getattr(node, "name", None)
    if isinstance(name, str):
        how = "def" if isinstance(node, (*SCOPE_NODES,)) else "unknown"
        scope.bind(name, Binding(how))
    rest = getattr(node, "rest", None)
    if isinstance(rest, str):
        scope.bind(rest, UNKNOWN)


def _record_exit(index: Index, node: ast.AST, scope: Scope) -> None:
    assert isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom))
    if scope.is_class or isinstance(scope.node, (ast.Module, ast.Lambda)):
        return
    (scope.returns if isinstance(node, ast.Return) else scope.yields).append(node.value)


def _bind_global(index: Index, node: ast.AST, scope: Scope) -> None:
    assert isinstance(node, (ast.Global, ast.Nonlocal))
    for name in node.names:
        scope.bind(name, UNKNOWN)


def _bind_import(index: Index, node: ast.AST, scope: Scope) -> None:
    assert isinstance(node, ast.Import)
    for alias in node.names:
        if alias.asname:
            local, qualname = alias.asname, alias.name
        else:
            local = qualname = alias.name.split(".", 1)[0]
        scope.bind(local, Binding("module", qualname=qualname))
        index.add_import(local, qualname)


def _bind_import_from(index: Index, node: ast.AST, scope: Scope) -> None:
    assert isinstance(node, ast.ImportFrom)
    module = node.module or ""
    for alias in node.names:
        if alias.name == "*":
            continue
        local = alias.asname or alias.name
        qualname = f"{module}.{alias.name}" if module else alias.name
        scope.bind(local, Binding("import", qualname=qualname))
        index.add_import(local, qualname)


Binder = Callable[[Index, ast.AST, Scope], None]
_BINDERS: dict[type[ast.AST], Binder] = {
    ast.Assign: _bind_assign,
    ast.AnnAssign: _bind_annassign,
    ast.AugAssign: _bind_augassign,
    ast.NamedExpr: _bind_namedexpr,
    ast.For: _bind_for,
    ast.AsyncFor: _bind_for,
    ast.With: _bind_with,
    ast.AsyncWith: _bind_with,
    ast.comprehension: _bind_comprehension,
    ast.FunctionDef: _bind_name_attr,
    ast.AsyncFunctionDef: _bind_name_attr,
    ast.ClassDef: _bind_name_attr,
    ast.ExceptHandler: _bind_name_attr,
    ast.MatchAs: _bind_name_attr,
    ast.MatchStar: _bind_name_attr,
    ast.MatchMapping: _bind_name_attr,
    ast.Global: _bind_global,
    ast.Nonlocal: _bind_global,
    ast.Return: _record_exit,
    ast.Yield: _record_exit,
    ast.YieldFrom: _record_exit,
    ast.Import: _bind_import,
    ast.ImportFrom: _bind_import_from,
}
_SCOPE_TYPES = frozenset(SCOPE_NODES)
_FIELDS: dict[type[ast.AST], tuple[str, ...]] = {}
