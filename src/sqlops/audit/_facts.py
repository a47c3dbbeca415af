"""The learning steps: what one parsed file teaches the project.

Module-level names (``SessionLocal = async_sessionmaker(...)``), the functions that
hand sessions out (which often yield from those factories), classes (whose
``__init__`` often stores what a provider gave), and helpers that execute a
statement they are given. `sqlops.audit._learning` runs them in order over all
files; `Outline` stands for a file that cannot define a fact.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlops.audit._annotations import parse_annotation
from sqlops.audit._astutil import constant_attributes, decorator_names, terminal
from sqlops.audit._context import NOTHING, FileContext
from sqlops.audit._index import SelfAttr
from sqlops.audit._kinds import Kind
from sqlops.audit._project import Project, Provider
from sqlops.audit._statements import runs_statements, sink_params

_COLLECTIONS = frozenset({"list", "List", "set", "Set", "frozenset", "FrozenSet", "Sequence"})
_PROPERTIES = frozenset({"property", "cached_property"})
_CM_WRAPPERS = frozenset({"asynccontextmanager", "contextmanager"})
_RELATIONSHIPS = frozenset({"relationship", "Relationship"})


@dataclass
class Outline:
    """Keep what learning needs from a file that is not kept in memory."""

    functions: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    fixtures: list[str] = field(default_factory=list)
    bases: dict[str, list[str]] = field(default_factory=dict)
    attrs: list[tuple[str, str]] = field(default_factory=list)
    constants: list[tuple[str, str]] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)

    def apply(self, project: Project) -> None:
        """Record the file's classes, constants and dependencies, and its names as unknown."""
        for cls, bases in self.bases.items():
            project.class_facts(cls).bases.update(bases)
        for cls, attr in self.attrs:
            project.class_facts(cls).attrs.learn(attr, None)
            project.class_facts(cls).members.learn(attr, None)
        project.constants.update(self.constants)
        project.dependencies.update(self.dependencies)
        self.apply_names(project)

    def apply_names(self, project: Project) -> None:
        """Make the file's function, method and fixture names unknown."""
        for name in self.functions:
            project.functions.learn(name, None)
        for name in self.methods:
            project.methods.learn(name, None)
        for name in self.fixtures:
            project.fixtures.learn(name, None)

    def apply_sink_names(self, project: Project) -> None:
        """Make the file's function and method names unknown as statement helpers."""
        for name in self.functions:
            project.next_sinks.learn(name, None)
        for name in self.methods:
            project.next_method_sinks.learn(name, None)


def outline(ctx: FileContext) -> Outline:
    """Summarise a file for `learn` so that its tree can be dropped."""
    found = Outline()
    for func in ctx.index.functions():
        outer = ctx.index.scopes[func].parent
        (found.methods if outer and outer.is_class else found.functions).append(func.name)
        if "fixture" in decorator_names(func):
            found.fixtures.append(_fixture_name(func))
    for cls in ctx.index.nodes(ast.ClassDef):
        found.bases[cls.name] = [*found.bases.get(cls.name, []), *_base_names(cls)]
        scope = ctx.index.scopes[cls]
        found.attrs += [
            (cls.name, name)
            for name, bindings in scope.bindings.items()
            if not all(b.how == "def" for b in bindings)
        ]
        found.constants += [(cls.name, attr) for attr in constant_attributes(cls)]
    for attr in ctx.index.self_attrs:
        value = attr.binding.value
        if not (isinstance(value, ast.Constant) and value.value is None):
            found.attrs.append((attr.cls.name, attr.attr))
    for node in ctx.index.nodes(ast.Call):
        if terminal(node.func) in ("Depends", "Security") and node.args:
            found.dependencies.append(terminal(node.args[0]))
    return found


def learn_values(ctx: FileContext, project: Project) -> None:
    module = ctx.index.module
    for name, bindings in module.bindings.items():
        if not all(b.how in ("assign", "annot") for b in bindings):
            continue
        if any(_is_type_alias(b.value, b.annotation) for b in bindings):
            values = [_aliased(b.value) for b in bindings if b.value is not None]
            kinds = {ctx.annotation_kind(v) for v in values}
            if len(kinds) == 1 and None not in kinds:
                project.learn("aliases", name, kinds.pop())
            continue
        kind = ctx.name_kind(name, module)
        if kind is not None:
            project.learn("values", name, kind)
    for node in ctx.index.nodes(ast.Call):
        if terminal(node.func) in ("Depends", "Security") and node.args:
            project.add("dependencies", terminal(node.args[0]))
    for cls in ctx.index.nodes(ast.ClassDef):
        kinds = {ctx.annotation_kind(base) for base in cls.bases}
        if len(kinds) == 1 and (kind := kinds.pop()) is not None:
            project.learn("aliases", cls.name, kind)  # class MySession(AsyncSession)
    type_alias = getattr(ast, "TypeAlias", None)
    if type_alias is not None:
        for alias in ctx.index.nodes(type_alias):
            kind = ctx.annotation_kind(alias.value)
            if kind is not None:
                project.learn("aliases", alias.name.id, kind)


def _aliased(value: ast.expr) -> ast.expr:
    """Return the type a ``NewType("X", T)`` wraps, or the value itself."""
    if isinstance(value, ast.Call) and len(value.args) == 2:
        return value.args[1]
    return value


def _is_type_alias(value: ast.expr | None, annotation: ast.expr | None) -> bool:
    if annotation is not None and terminal(annotation) == "TypeAlias":
        return True
    if isinstance(value, ast.Call):
        return terminal(value.func) == "NewType"
    if value is None:
        return False
    if isinstance(value, ast.Subscript):
        return True
    return isinstance(value, (ast.Name, ast.Attribute)) and terminal(value) in (
        "AsyncSession",
        "Session",
    )


def learn_providers(ctx: FileContext, project: Project) -> None:
    for func in ctx.index.functions():
        if _PROPERTIES & set(decorator_names(func)):
            continue
        kind = _provided_kind(ctx, func)
        is_async = isinstance(func, ast.AsyncFunctionDef)
        generator = bool(ctx.index.scopes[func].yields)
        provider = Provider(kind, is_async, generator) if kind else None
        outer = ctx.index.scopes[func].parent
        slot = "methods" if outer and outer.is_class else "functions"
        project.learn(slot, func.name, provider)  # an unknown one poisons the name: precision
        if "fixture" in decorator_names(func):
            project.learn("fixtures", _fixture_name(func), kind)
    _learn_wrapped_providers(ctx, project)


def _learn_wrapped_providers(ctx: FileContext, project: Project) -> None:
    """Learn ``get_ctx = asynccontextmanager(get_session)``: a provider made by assignment."""
    for name, bindings in ctx.index.module.bindings.items():
        if len(bindings) != 1 or bindings[0].how != "assign":
            continue
        value = bindings[0].value
        if not isinstance(value, ast.Call) or terminal(value.func) not in _CM_WRAPPERS:
            continue
        if len(value.args) != 1 or not isinstance(value.args[0], ast.Name):
            continue
        wrapped = project.provider(value.args[0].id)
        if wrapped is not None and wrapped.is_generator:
            project.learn("functions", name, wrapped)


def _fixture_name(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """Return the name pytest injects a fixture under (``@fixture(name=...)`` wins)."""
    for decorator in func.decorator_list:
        if isinstance(decorator, ast.Call):
            for keyword in decorator.keywords:
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
    return func.name


def _provided_kind(ctx: FileContext, func: ast.FunctionDef | ast.AsyncFunctionDef) -> Kind | None:
    if func.returns is not None:
        return ctx.returns_kind(func.returns)
    scope = ctx.index.scopes[func]
    values = scope.yields or scope.returns
    kinds = {ctx.kind_in(v, scope) if v is not None else None for v in values}
    return kinds.pop() if len(kinds) == 1 else None


def learn_classes(ctx: FileContext, project: Project) -> None:
    for cls in ctx.index.nodes(ast.ClassDef):
        project.class_facts(cls.name)
        for base in _base_names(cls):
            project.add_base(cls.name, base)
        scope = ctx.index.scopes[cls]
        for name in scope.bindings:
            if not all(b.how == "def" for b in scope.bindings[name]):
                project.learn_attr(cls.name, name, ctx.name_kind(name, scope))
            elif (kind := _property_kind(ctx, cls, name)) is not None:
                project.learn_attr(cls.name, name, kind)
        for attr in _collection_attrs(ctx, cls):
            project.add("collections", (cls.name, attr))
        for attr in constant_attributes(cls):
            project.add("constants", (cls.name, attr))
        for attr, strategy in _relationship_attrs(cls):
            project.learn("relationships", f"{cls.name}.{attr}", strategy)
    for found in ctx.index.self_attrs:
        value = ctx.binding_kind(found.binding, found.scope)
        if value is not NOTHING:
            attr_kind = value if isinstance(value, Kind) else None
            project.learn_attr(found.cls.name, found.attr, attr_kind)
            project.learn_member(found.cls.name, found.attr, _member(ctx, found))


def _member(ctx: FileContext, found: SelfAttr) -> str | None:
    """Return the class stored by ``self.repo = repo`` (``repo: UserRepository``) or
    ``self.repo = UserRepository(...)``, or ``None``."""
    binding = found.binding
    annotation = binding.annotation
    if annotation is None and isinstance(binding.value, ast.Name):
        annotation = ctx.param_annotation(binding.value.id, found.scope)
    if isinstance(annotation, (ast.Name, ast.Attribute)):
        return terminal(annotation)
    value = binding.value
    func = value.func if annotation is None and isinstance(value, ast.Call) else None
    if isinstance(func, (ast.Name, ast.Attribute)):
        return terminal(func) or None
    return None


def learn_sinks(ctx: FileContext, project: Project) -> None:
    """Learn the helpers that execute and list a statement they are given (SQA010).

    Reads the helpers known so far (``sinks``) and learns into ``next_sinks``, so
    that each round is independent of the order of definitions. Only functions
    that execute something or call a known helper are looked at closely.
    """
    candidates = {ctx.function_of(call) for call in runs_statements(ctx)}
    for func in ctx.index.functions():
        if "overload" in decorator_names(func):
            continue  # a signature only: the implementation says what happens
        outer = ctx.index.scopes[func].parent
        slot = "next_method_sinks" if outer and outer.is_class else "next_sinks"
        project.learn(slot, func.name, sink_params(ctx, func) if func in candidates else None)


def _base_names(cls: ast.ClassDef) -> Iterable[str]:
    for base in cls.bases:
        name = terminal(base.value if isinstance(base, ast.Subscript) else base)
        if name:
            yield name


def _property_kind(ctx: FileContext, cls: ast.ClassDef, name: str) -> Kind | None:
    for stmt in cls.body:
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) or stmt.name != name:
            continue
        if _PROPERTIES & set(decorator_names(stmt)) and stmt.returns is not None:
            return ctx.annotation_kind(stmt.returns)
    return None


def _collection_attrs(ctx: FileContext, cls: ast.ClassDef) -> Iterable[str]:
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            if _is_collection(stmt.annotation, stmt.value):
                yield stmt.target.id
        elif isinstance(stmt, ast.Assign) and _uselist(stmt.value):
            yield from (t.id for t in stmt.targets if isinstance(t, ast.Name))


def _is_collection(annotation: ast.expr, value: ast.expr | None, *, mapped: bool = False) -> bool:
    uselist = _uselist(value)
    if uselist is not None:
        return uselist
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        parsed = parse_annotation(annotation.value)
        return parsed is not None and _is_collection(parsed, value, mapped=mapped)
    if not isinstance(annotation, ast.Subscript):
        return False
    base = terminal(annotation.value)
    if base == "Mapped":
        return _is_collection(annotation.slice, None, mapped=True)
    is_relationship = isinstance(value, ast.Call) and terminal(value.func) == "Relationship"
    return base in _COLLECTIONS and (mapped or is_relationship)


def _relationship_attrs(cls: ast.ClassDef) -> Iterable[tuple[str, str]]:
    """Yield ``(attr, loader strategy)`` for each relationship a class body declares."""
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            targets, value = [stmt.target], stmt.value
        elif isinstance(stmt, ast.Assign):
            targets, value = [t for t in stmt.targets if isinstance(t, ast.Name)], stmt.value
        else:
            continue
        if not isinstance(value, ast.Call) or terminal(value.func) not in _RELATIONSHIPS:
            continue
        strategy = _lazy(value)
        for target in targets:
            if isinstance(target, ast.Name):
                yield target.id, strategy


def _lazy(call: ast.Call) -> str:
    """Return ``relationship(lazy=...)`` (SQLModel: ``sa_relationship_kwargs``); ``?`` if unread."""
    for keyword in call.keywords:
        value = keyword.value
        if keyword.arg == "sa_relationship_kwargs":
            if not isinstance(value, ast.Dict):
                return "?"
            for k, v in zip(value.keys, value.values, strict=True):
                if k is None:
                    return "?"
                if isinstance(k, ast.Constant) and k.value == "lazy":
                    return _constant_strategy(v)
        elif keyword.arg == "lazy":
            return _constant_strategy(value)
        elif keyword.arg is None:
            return "?"  # **kwargs: cannot tell
    return "select"


def _constant_strategy(value: ast.expr) -> str:
    if isinstance(value, ast.Constant):
        if value.value is True:
            return "select"
        return str(value.value) if isinstance(value.value, str) else "?"
    return "?"


def _uselist(value: ast.expr | None) -> bool | None:
    """Return what ``relationship(..., uselist=...)`` says, or ``None`` if it says nothing."""
    if not isinstance(value, ast.Call) or terminal(value.func) not in (
        "relationship",
        "Relationship",
    ):
        return None
    for keyword in value.keywords:
        if keyword.arg == "uselist" and isinstance(keyword.value, ast.Constant):
            return bool(keyword.value.value)
        if keyword.arg == "collection_class":
            return True
    return None
