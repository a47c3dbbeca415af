"""Tell literal SQL strings from SQL that pastes run-time *values* into itself.

``classify()`` answers "is this a string at all?" (for ``execute("...")``).
``injected()`` answers "does a run-time value land where SQL expects a value?" —
inside quotes, after ``=``/``<``/``LIKE``/``IN (``, in a ``VALUES (...)`` list.
Identifiers (``FROM {table}``, ``GRANT ... TO {role}``, ``"{column}"``) and whole
fragments (``WHERE {clause}``) cannot be bind parameters, so pasting them is not
flagged: the fix the rule suggests would not apply. Values that cannot carry
user input are never flagged either: literals, ``UPPER_CASE`` constants, numbers
(``int()``/``len()``), enum members, identifiers from metadata (``table.name``) or
named as such (``table_name``, ``schema``, ``seq``), quoted identifiers and
generated placeholder lists (``", ".join(f":p{i}" ...)``).
"""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Callable, Iterator

from sqlops.audit._astutil import terminal
from sqlops.audit._index import Scope

SafeHook = Callable[[ast.expr], bool]
Piece = tuple[str, ast.expr]  # (SQL text before the value, the value)

_SAFE_CALLS = frozenset({"int", "float", "len", "bool", "range", "abs", "round", "min", "max"})
_IDENTIFIER_ATTRS = frozenset({"name", "fullname", "__tablename__", "key", "schema", "table_name"})
_PLACEHOLDERS = (":", "?", "%s", "$")
_QUOTING = ("quote", "escape", "sanitiz", "literal")
_VALUE_BEFORE = re.compile(
    r"(=|<>|!=|<|>|\bLIKE|\bILIKE|\bIN\s*\(|\bBETWEEN|\bTHEN|\bELSE|\bVALUES\s*\([^)]*)\s*$",
    re.IGNORECASE,
)
_IDENTIFIER_NAME = re.compile(
    r"(^|_)(table|tables|tbl|schema|column|col|seq|sequence|index|constraint|identifier|ident)"
    r"(_?names?)?$"
)
_PERCENT = re.compile(r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*\d*(?:\.\d+)?[sdifr]")
_MAX_DEPTH = 4


def classify(expr: ast.expr, scope: Scope, depth: int = 0) -> bool:
    """Tell whether ``expr`` evaluates to a ``str`` built in this code."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(expr, ast.Constant):
        return isinstance(expr.value, str)
    if isinstance(expr, ast.JoinedStr):
        return True
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Add, ast.Mod)):
        return classify(expr.left, scope, depth + 1) or (
            isinstance(expr.op, ast.Add) and classify(expr.right, scope, depth + 1)
        )
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        return expr.func.attr == "format" and classify(expr.func.value, scope, depth + 1)
    if isinstance(expr, ast.Name):
        values = _bound_values(expr.id, scope)
        return bool(values) and all(classify(v, scope, depth + 1) for v in values)
    return False


def injected(expr: ast.expr, scope: Scope, safe: SafeHook) -> bool:
    """Tell whether a run-time value is pasted into a value position of the SQL."""
    return any(
        _VALUE_BEFORE.search(before) or before.count("'") % 2 == 1
        for before, value in _pieces(expr, scope, "", 0)
        if not _identifier_slot(before, value) and not is_safe(value, safe, scope)
    )


def _identifier_slot(before: str, value: ast.expr) -> bool:
    """Tell whether a value sits in ``"{col}"`` or ``{alias}.col``: an identifier, not a value."""
    return before.endswith('"') or getattr(value, "sqlops_after", "")[:1] in ('"', ".")


def _pieces(expr: ast.expr, scope: Scope, before: str, depth: int) -> Iterator[Piece]:
    """Yield each interpolated value with the SQL text that precedes it."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(expr, ast.JoinedStr):
        yield from _joined_pieces(expr, before)
    elif isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        yield from _pieces(expr.left, scope, before, depth + 1)
        yield from _pieces(expr.right, scope, before + _literal(expr.left), depth + 1)
        if not classify(expr.right, scope) and not isinstance(expr.right, ast.Constant):
            yield before + _literal(expr.left), expr.right
    elif isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mod):
        if isinstance(expr.left, ast.Constant) and isinstance(expr.left.value, str):
            yield from _percent_pieces(expr.left.value, expr.right, before)
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        template = expr.func.value
        if (
            expr.func.attr == "format"
            and isinstance(template, ast.Constant)
            and isinstance(template.value, str)
        ):
            yield from _format_pieces(template.value, expr, before)
    elif isinstance(expr, ast.Name):
        for value in _bound_values(expr.id, scope):
            yield from _pieces(value, scope, before, depth + 1)


def _literal(expr: ast.expr) -> str:
    """Return the constant text of a string expression (values left out)."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    if isinstance(expr, ast.JoinedStr):
        return "".join(_literal(v) for v in expr.values if isinstance(v, ast.Constant))
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        return _literal(expr.left) + _literal(expr.right)
    return ""


def _joined_pieces(expr: ast.JoinedStr, before: str) -> Iterator[Piece]:
    text = before
    parts = expr.values
    for position, part in enumerate(parts):
        if isinstance(part, ast.FormattedValue):
            following = parts[position + 1] if position + 1 < len(parts) else None
            if isinstance(following, ast.Constant):
                part.value.sqlops_after = str(following.value)  # type: ignore[attr-defined]
            yield text, part.value
        elif isinstance(part, ast.Constant):
            text += str(part.value)


def _percent_pieces(template: str, values: ast.expr, before: str) -> Iterator[Piece]:
    items = values.elts if isinstance(values, ast.Tuple) else None
    for index, match in enumerate(_PERCENT.finditer(template)):
        value = items[index] if items is not None and index < len(items) else values
        yield before + template[: match.start()], value


def _format_pieces(template: str, call: ast.Call, before: str) -> Iterator[Piece]:
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    text, auto = before, 0
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return
    for literal, field, _spec, _conv in parsed:
        text += literal
        if field is None:
            continue
        name = field.split(".", 1)[0].split("[", 1)[0]
        if name == "":
            value = call.args[auto] if auto < len(call.args) else None
            auto += 1
        elif name.isdigit():
            value = call.args[int(name)] if int(name) < len(call.args) else None
        else:
            value = keywords.get(name)
        if value is not None:
            yield text, value


def _bound_values(name: str, scope: Scope) -> list[ast.expr]:
    """Return the values assigned to ``name`` in the scope that binds it (all or nothing)."""
    current: Scope | None = scope
    while current is not None and (
        (current is not scope and current.is_class) or name not in current.bindings
    ):
        current = current.parent
    if current is None:
        return []
    values = []
    for binding in current.bindings[name]:
        if binding.how in ("for", "for_item") and binding.value is not None:
            items = _literal_items(binding.value, current)
            if items is None:
                return []
            values.extend(items)
            continue
        if binding.how not in ("assign", "annot") or binding.value is None:
            return []
        values.append(binding.value)
    return values


def _literal_items(iterated: ast.expr, scope: Scope) -> list[ast.expr] | None:
    """Return what a loop over a literal collection yields (``for t, p in PREFIXES.items()``)."""
    func = iterated.func if isinstance(iterated, ast.Call) else None
    if isinstance(func, ast.Attribute) and func.attr in ("items", "keys", "values"):
        iterated = func.value
    if isinstance(iterated, ast.Name):
        bound = _bound_values(iterated.id, scope)
        if len(bound) != 1:
            return None
        iterated = bound[0]
    if isinstance(iterated, (ast.List, ast.Tuple, ast.Set)):
        return _flatten(iterated.elts)
    if isinstance(iterated, ast.Dict) and None not in iterated.keys:
        return _flatten([*(k for k in iterated.keys if k is not None), *iterated.values])
    return None


def _flatten(items: list[ast.expr]) -> list[ast.expr]:
    flat: list[ast.expr] = []
    for item in items:
        flat.extend(_flatten(item.elts) if isinstance(item, ast.Tuple) else [item])
    return flat


def is_safe(
    expr: ast.expr, hook: SafeHook | None = None, scope: Scope | None = None, depth: int = 0
) -> bool:
    """Tell whether a value pasted into SQL cannot carry user input.

    With ``scope``, a variable is followed to what it was assigned
    (``placeholders = ", ".join(...)``; ``v = quote(x)``).
    """
    if depth > _MAX_DEPTH:
        return False
    if hook is not None and hook(expr):
        return True
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, ast.IfExp):  # 'true' if flag else 'false'
        branches = (expr.body, expr.orelse)
        return all(is_safe(b, hook, scope, depth + 1) for b in branches)
    if isinstance(expr, (ast.Name, ast.Attribute)):
        return _safe_name(expr, hook, scope, depth)
    if isinstance(expr, ast.JoinedStr):
        if _quoted_identifier(expr):
            return True
        values = [v.value for v in expr.values if isinstance(v, ast.FormattedValue)]
        return all(is_safe(v, hook, scope, depth + 1) for v in values)
    if isinstance(expr, ast.Call):
        name = terminal(expr.func).lower()
        if name in _SAFE_CALLS or any(word in name for word in _QUOTING):
            return True
        if name == "join" and len(expr.args) == 1:
            return _placeholder_list(expr.args[0], hook, scope, depth)
        return _built_from_constants(expr, hook, scope, depth)
    return False


def _built_from_constants(
    call: ast.Call, hook: SafeHook | None, scope: Scope | None, depth: int
) -> bool:
    """Tell whether a helper builds SQL from constants only (``_jsonb_expr("col", KEYS)``)."""
    if not isinstance(call.func, ast.Name):
        return False  # a method: its receiver may hold anything
    values = [*call.args, *(k.value for k in call.keywords)]
    return bool(values) and all(is_safe(v, hook, scope, depth + 1) for v in values)


def _safe_name(
    expr: ast.Name | ast.Attribute, hook: SafeHook | None, scope: Scope | None, depth: int
) -> bool:
    name = terminal(expr)
    if name.isupper() or _IDENTIFIER_NAME.search(name.lower()) or name.lower().endswith("uuid"):
        return True
    if isinstance(expr, ast.Attribute):
        return name in _IDENTIFIER_ATTRS
    values = _bound_values(name, scope) if scope is not None else []
    return bool(values) and all(is_safe(v, hook, scope, depth + 1) for v in values)


def _quoted_identifier(expr: ast.JoinedStr) -> bool:
    """Tell whether an f-string is one double-quoted identifier (``f'"{column}"'``)."""
    text = "".join(str(v.value) for v in expr.values if isinstance(v, ast.Constant))
    first, last = expr.values[0], expr.values[-1]
    return (
        text.count('"') == 2
        and isinstance(first, ast.Constant)
        and str(first.value).startswith('"')
        and isinstance(last, ast.Constant)
        and str(last.value).endswith('"')
    )


def _placeholder_list(
    expr: ast.expr, hook: SafeHook | None, scope: Scope | None, depth: int
) -> bool:
    if not isinstance(expr, (ast.GeneratorExp, ast.ListComp)):
        return False
    element = expr.elt
    if is_safe(element, hook, None, depth + 1):
        return True
    if isinstance(element, ast.JoinedStr):
        text = "".join(str(v.value) for v in element.values if isinstance(v, ast.Constant))
        return any(p in text for p in _PLACEHOLDERS)
    return False
