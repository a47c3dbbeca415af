"""SQA005: SQL assembled from run-time values inside ``text()``.

``text(f"... WHERE email = '{email}'")`` pastes the value into the SQL: an
injection hole, a quoting bug for names like O'Brien, and a new statement for the
server to parse on every call. Bind parameters fix all three.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from sqlops.audit._astutil import constant_attribute, method_call, scalar_type, terminal
from sqlops.audit._context import FileContext
from sqlops.audit._finding import Hit, Rule
from sqlops.audit._kinds import CONNECTIONS, from_sqlalchemy
from sqlops.audit._strings import injected


def check(ctx: FileContext) -> Iterator[Hit]:
    """Flag dynamic strings passed to ``text()`` or ``exec_driver_sql()``."""
    for call in ctx.index.calls("text", "exec_driver_sql"):
        if not call.args or not _sql_sink(ctx, call):
            continue
        sql = call.args[0]
        if injected(sql, ctx.scope_of(call), lambda value: _typed_safe(ctx, value)):
            sink = terminal(call.func)
            yield Hit(
                sql,
                f"a run-time value is pasted into the SQL inside `{sink}()` where a value "
                "belongs: an injection hole (and it breaks on quotes)",
                'use bind parameters: `text("... WHERE id = :id")` and pass `{"id": value}`',
            )


def _sql_sink(ctx: FileContext, call: ast.Call) -> bool:
    name = terminal(call.func)
    if name == "text":
        return from_sqlalchemy(ctx.callee(call))
    split = method_call(call)
    return name == "exec_driver_sql" and split is not None and ctx.kind(split[0]) in CONNECTIONS


def _typed_safe(ctx: FileContext, value: ast.expr) -> bool:
    """Tell whether the code types a value as one that cannot carry SQL.

    Enum members (``self.value`` in an Enum, an Enum-typed parameter), parameters
    annotated ``int``/``float``/``bool``/``UUID``/dates, and class constants such
    as ``cls._threshold: ClassVar[float] = 0.5``.
    """
    base = value.value if isinstance(value, ast.Attribute) else value
    if not isinstance(base, ast.Name):
        return False
    scope = ctx.scope_of(value)
    cls = ctx.self_class(base.id, scope)
    if cls is not None:
        if _is_enum(ctx, cls.name):
            return True
        return isinstance(value, ast.Attribute) and _class_constant(ctx, cls, value.attr)
    annotation = ctx.param_annotation(base.id, scope)
    if annotation is None:
        return False
    if isinstance(value, ast.Name) and scalar_type(annotation):
        return True
    return _is_enum(ctx, terminal(annotation))


def _class_constant(ctx: FileContext, cls: ast.ClassDef, attr: str) -> bool:
    """Tell whether ``attr`` is a number on the class or one of its scanned bases."""
    if constant_attribute(cls, attr):
        return True
    return any((name, attr) in ctx.project.constants for name in ctx.project.lineage(cls.name))


def _is_enum(ctx: FileContext, class_name: str) -> bool:
    pending, seen = [class_name], set()
    while pending:
        name = pending.pop()
        if name.endswith("Enum"):
            return True
        facts = ctx.project.classes.get(name)
        if facts is not None and name not in seen:
            seen.add(name)
            pending.extend(facts.bases)
    return False


RULE = Rule(
    code="SQA005",
    name="sql-built-from-values",
    summary="f-string / `%` / `+` / `.format()` pasting values into SQL in `text()` (injection)",
    fix='use bind parameters: `text("... WHERE id = :id")` with `{"id": value}`',
    check=check,
    doc=__doc__ or "",
    in_tests=False,
)
