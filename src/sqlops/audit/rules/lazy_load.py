"""SQA014: a lazy relationship read in async code on an object loaded without it.

``user = await db.get(User, 1)`` then ``user.addresses`` is an implicit query, and
an ``AsyncSession`` cannot run one behind an attribute access: it raises
``MissingGreenlet: greenlet_spawn has not been called; can't call await_only()
here`` — usually in production, on the first code path that touches the
relationship. Load it with the statement (``selectinload(User.addresses)``), declare
it eager (``lazy="selectin"``), or await it (``await user.awaitable_attrs.addresses``).

Precision first: flagged only when the code proves it. The relationship is declared
in a scanned model as a collection (``Mapped[list[...]]``, ``uselist=True``) with the
default lazy loading — a many-to-one may be answered from the identity map without
SQL, so it is not flagged; the object comes from an
``AsyncSession`` in the same ``async def`` (``get()``, ``scalar()``,
``scalars(...).first()/one()/all()``, iterating a result) from a ``select(Model)``
whose every option the audit can read and none of which names the relationship;
and the object is not refreshed or rebound before the access. Code in nested
functions and lambdas (handed to ``run_sync``) is left alone.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from sqlops.audit._astutil import method_call, terminal, walk_local
from sqlops.audit._context import FileContext
from sqlops.audit._finding import Hit, Rule
from sqlops.audit._index import Scope
from sqlops.audit._kinds import Kind
from sqlops.audit._reaching import Definition, reaching

_LAZY = frozenset({"select"})
_MAX_STEPS = 8  # variables and result methods followed back to the load
_ONE = frozenset({"first", "one", "one_or_none", "scalar_one", "scalar_one_or_none", "scalar"})
_MANY = frozenset({"all", "fetchall", "unique", "scalars"})
_STATEMENT_STEPS = frozenset(
    {
        "where",
        "filter",
        "filter_by",
        "order_by",
        "limit",
        "offset",
        "join",
        "outerjoin",
        "execution_options",
        "distinct",
        "group_by",
        "having",
        "with_for_update",
        "options",
    }
)


@dataclass(frozen=True)
class Load:
    """Say what one load site gives: the model class and the relationships it names."""

    model: str
    named: frozenset[str]
    many: bool
    rows: bool = False  # ``execute()`` results hold rows, not objects, until ``scalars()``


def check(ctx: FileContext) -> Iterator[Hit]:
    """Flag lazy relationship reads on objects loaded through an AsyncSession."""
    if not ctx.project.relationships:
        return
    for function in ctx.index.nodes(ast.AsyncFunctionDef):
        yield from _function(ctx, function)


def _function(ctx: FileContext, function: ast.AsyncFunctionDef) -> Iterator[Hit]:
    scope = ctx.index.scopes[function]
    local = list(walk_local(function))
    reported: set[tuple[int, str]] = set()
    for node in local:
        if not (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and node.attr in ctx.project.relationship_names
        ):
            continue
        definition = reaching(ctx, node.value)
        if definition is None:
            continue
        load = _definition_load(ctx, definition, scope)
        if load is None or node.attr in load.named or _refreshed(local, node.value.id):
            continue
        slot = (id(definition.value), node.attr)
        if slot in reported:
            continue
        lazy = ctx.project.relationship(load.model, node.attr) in _LAZY
        if lazy and _collection(ctx, load.model, node.attr):
            reported.add(slot)
            yield _hit(node, node.value.id, load.model)


def _collection(ctx: FileContext, model: str, attr: str) -> bool:
    """Tell whether ``Model.attr`` is declared a collection (on the class or a base).

    A many-to-one lazy load may be answered from the identity map without any SQL
    (the related object already loaded in the session), so only collections, which
    always need a query when unloaded, are proven failures.
    """
    return any((name, attr) in ctx.project.collections for name in ctx.project.lineage(model))


def _hit(node: ast.Attribute, name: str, model: str) -> Hit:
    return Hit(
        node,
        f"`{name}.{node.attr}` is a lazy relationship of {model} that the statement loading "
        f"`{name}` did not load: reading it in async code raises MissingGreenlet",
        f"add `.options(selectinload({model}.{node.attr}))` to the statement, or "
        f"`await {name}.awaitable_attrs.{node.attr}`",
    )


def _definition_load(ctx: FileContext, definition: Definition, scope: Scope) -> Load | None:
    if definition.how not in ("assign", "for"):
        return None
    load = _value_load(ctx, definition.value, scope)
    if load is None or load.rows or load.many != (definition.how == "for"):
        return None
    return load


def _value_load(ctx: FileContext, value: ast.expr, scope: Scope, depth: int = 0) -> Load | None:
    """Read ``await s.get(M, pk)``, ``(await s.scalars(stmt)).first()``, ``result.scalars()``."""
    if depth > _MAX_STEPS:
        return None
    if isinstance(value, ast.Await):
        return _awaited_load(ctx, value.value, scope)
    if isinstance(value, ast.Name):
        definition = reaching(ctx, value)
        if definition is None or definition.how != "assign":
            return None
        return _value_load(ctx, definition.value, scope, depth + 1)
    if isinstance(value, ast.Subscript):  # row[0]: the first entity of one row
        row = _value_load(ctx, value.value, scope, depth + 1)
        first = isinstance(value.slice, ast.Constant) and value.slice.value == 0
        if row is None or not row.rows or row.many or not first:
            return None
        return Load(row.model, row.named, many=False)
    split = method_call(value)
    if split is None or split[1] not in _ONE | _MANY:
        return None
    inner = _value_load(ctx, split[0], scope, depth + 1)
    if inner is None or not inner.many:
        return None
    method = split[1]
    if inner.rows:
        if method == "scalars":
            return Load(inner.model, inner.named, many=True)
        if method in ("scalar_one", "scalar_one_or_none", "scalar"):
            return Load(inner.model, inner.named, many=False)
        if method in ("one", "first", "one_or_none"):
            return Load(inner.model, inner.named, many=False, rows=True)  # one Row
        return inner if method == "unique" else None
    return Load(inner.model, inner.named, many=method in _MANY)


def _awaited_load(ctx: FileContext, call: ast.expr, scope: Scope) -> Load | None:
    split = method_call(call)
    if split is None or not isinstance(call, ast.Call) or not call.args:
        return None
    kind = ctx.kind_in(split[0], scope)
    if kind is not Kind.ASYNC_SESSION and not (kind is None and ctx.used_as_session(split[0])):
        return None
    method = split[1]
    if method in ("get", "get_one"):
        model = call.args[0]
        if not isinstance(model, ast.Name):
            return None
        named: frozenset[str] | None = frozenset()
        for keyword in call.keywords:
            if keyword.arg == "options":
                named = _named(keyword.value)
            elif keyword.arg not in ("with_for_update", "populate_existing"):
                return None
        return Load(model.id, named, many=False) if named is not None else None
    if method in ("scalars", "scalar", "execute", "stream_scalars"):
        statement = _statement(ctx, call.args[0])
        if statement is None:
            return None
        many = method != "scalar"
        return Load(statement.model, statement.named, many, rows=method == "execute")
    return None


def _statement(ctx: FileContext, expr: ast.expr, depth: int = 0) -> Load | None:
    """Read ``select(M).where(...).options(...)``, also built over several assignments."""
    if depth > 6:
        return None
    if isinstance(expr, ast.Name):
        definition = reaching(ctx, expr)
        if definition is None:
            return _refined(ctx, expr)
        if definition.how != "assign":
            return None
        return _statement(ctx, definition.value, depth + 1)
    chain = _chain(expr)
    if chain is None:
        return None
    root, named = chain
    if isinstance(root, ast.Name):  # stmt = stmt.where(...)
        inner = _statement(ctx, root, depth + 1)
        if inner is None:
            return None
        return Load(inner.model, inner.named | named, many=True)
    return Load(root, named, many=True)


def _refined(ctx: FileContext, name: ast.Name) -> Load | None:
    """Read a statement refined in branches and loops (``if x: stmt = stmt.options(...)``).

    Every assignment of the name in the function must be ``select(Model)...`` or a
    refinement of the name itself; the options of all of them count as loaded.
    """
    bindings = ctx.scope_of(name).bindings.get(name.id, [])
    models: set[str] = set()
    named: set[str] = set()
    for binding in bindings:
        chain = _chain(binding.value) if binding.how == "assign" and binding.value else None
        if chain is None:
            return None
        root, found = chain
        if isinstance(root, ast.Name):
            if root.id != name.id:
                return None
        else:
            models.add(root)
        named |= found
    return Load(models.pop(), frozenset(named), many=True) if len(models) == 1 else None


def _chain(expr: ast.expr) -> tuple[str | ast.Name, frozenset[str]] | None:
    """Split a statement chain into its root (a ``select(M)``'s model, or a name) and options."""
    named: set[str] = set()
    node = expr
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr not in _STATEMENT_STEPS:
            return None
        if node.func.attr == "options":
            found = _named_all(node.args)
            if found is None or node.keywords:
                return None
            named |= found
        node = node.func.value
    if isinstance(node, ast.Name):
        return node, frozenset(named)
    if not isinstance(node, ast.Call) or terminal(node.func) != "select":
        return None
    entity = node.args[0] if node.args else None  # the first entity: scalars() gives it
    if not isinstance(entity, (ast.Name, ast.Attribute)) or not terminal(entity)[:1].isupper():
        return None
    return terminal(entity), frozenset(named)


def _named_all(options: list[ast.expr]) -> set[str] | None:
    found: set[str] = set()
    for option in options:
        names = _named(option)
        if names is None:
            return None
        found |= names
    return found


def _named(option: ast.expr) -> frozenset[str] | None:
    """Return the relationship names a loader option mentions; ``None`` if it cannot be read."""
    if isinstance(option, (ast.List, ast.Tuple)):
        found = _named_all(list(option.elts))
        return frozenset(found) if found is not None else None
    if not isinstance(option, ast.Call):
        return None  # *opts, a variable, a helper's result: cannot tell
    names: set[str] = set()
    for node in ast.walk(option):
        if isinstance(node, ast.Starred):
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return None  # "*" wildcards and string paths
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        if isinstance(node, ast.Call) and not isinstance(node.func, (ast.Name, ast.Attribute)):
            return None
    return frozenset(names)


def _refreshed(local: list[ast.AST], name: str) -> bool:
    """Tell whether the object is refreshed, expired or handed to ``run_sync``/``merge``."""
    for node in local:
        split = method_call(node)
        if split is None or not isinstance(node, ast.Call):
            continue
        if split[1] in ("refresh", "run_sync", "merge", "expire", "expunge"):
            args = [*node.args, *(k.value for k in node.keywords)]
            if any(isinstance(a, ast.Name) and a.id == name for a in args):
                return True
    return False


RULE = Rule(
    code="SQA014",
    name="lazy-load-in-async",
    summary="A lazy relationship read in async code on an object loaded without it",
    fix="eager-load it: `.options(selectinload(Model.rel))`, or `await obj.awaitable_attrs.rel`",
    check=check,
    doc=__doc__ or "",
)
