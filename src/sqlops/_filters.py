"""The keyword filter DSL, ordering and eager-load names.

``name="x"`` is equality; ``field__op=value`` applies an operator; ``team__name="x"``
follows a relationship. These names and values usually come from HTTP query strings, so
a name is only ever looked up in the mapper (never turned into SQL text) and a value is
converted to the column's Python type before it is bound.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, true
from sqlalchemy.orm import InstrumentedAttribute, joinedload, selectinload
from sqlalchemy.orm.strategy_options import _AbstractLoad
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import asc_op, desc_op

from ._errors import InvalidFilterError
from ._membership import membership
from ._modelinfo import ModelInfo, model_info

OPERATORS = (
    "eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "like", "ilike",
    "contains", "startswith", "endswith", "is_null", "between",
)  # fmt: skip
_TEXT_OPS = {"like", "ilike", "contains", "startswith", "endswith"}
_MAX_ECHO = 40


def build_where(info: ModelInfo, filters: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """Turn ``{"age__gt": "30", "team__name": "x"}`` into SQL expressions."""
    out = []
    for key, value in filters.items():
        term = term_for(info, key)
        out.append(term.condition(*term.bind(value)))
    return out


@dataclass(frozen=True)
class Term:
    """One parsed filter key: the relationship hops, the column and the operator.

    :meth:`bind` validates and converts a raw value into ``(shape, args)`` — the only
    place values are coerced — and :meth:`condition` turns them into SQL. ``shape`` is
    whatever changes the SQL itself (``IS NULL`` vs ``IS NOT NULL``, the length of an
    ``IN`` list) and ``args`` are the bound values, so a statement compiled for one
    shape can be reused with other args (the read templates do this).
    """

    key: str
    hops: tuple[tuple[ModelInfo, str], ...]
    owner: ModelInfo
    column: str
    op: str
    coerce: Callable[[Any], Any]

    def bind(self, value: Any) -> tuple[Any, list[Any]]:
        op, key = self.op, self.key
        if op == "is_null":
            return _to_bool(value, key), []
        if op in ("in", "not_in"):
            items = [self.coerce(v) for v in _as_list(value, key)]
            return len(items), items
        if op == "between":
            pair = _as_list(value, key)
            if len(pair) != 2:
                raise InvalidFilterError(f"{key}: between takes two values (low, high)")
            return 2, [self.coerce(pair[0]), self.coerce(pair[1])]
        if op in _TEXT_OPS:
            if not isinstance(value, str):
                raise InvalidFilterError(f"{key}: {op} takes a string, not {type(value).__name__}")
            if "\x00" in value:  # SQLite's LIKE stops at a NUL: "a\x00" would match "a%"
                raise InvalidFilterError(f"{key}: a {op} pattern cannot contain a NUL character")
            return None, [_pattern(op, value)]
        if value is None:
            if op in ("eq", "ne"):
                return "null", []
            raise InvalidFilterError(f"{key}: cannot compare with None; use {self.column}__is_null")
        return None, [self.coerce(value)]

    def condition(self, shape: Any, args: Sequence[Any]) -> ColumnElement[bool]:
        attr = self.owner.columns[self.column]
        op = self.op
        expr: ColumnElement[bool]
        if op == "is_null":
            expr = attr.is_(None) if shape else attr.is_not(None)
        elif op in ("in", "not_in"):
            expr = membership(attr, args, negate=op == "not_in")
        elif op == "between":
            expr = attr.between(args[0], args[1])
        elif op == "like":
            expr = attr.like(args[0])
        elif op == "ilike":
            expr = attr.ilike(args[0])
        elif op in _TEXT_OPS:
            expr = attr.like(args[0], escape=_ESCAPE)
        elif shape == "null":
            expr = attr.is_(None) if op == "eq" else attr.is_not(None)
        else:
            expr = _COMPARE[op](attr, args[0])
        return _through(self.hops, expr)

    @property
    def column_type(self) -> Any:
        return self.owner.column(self.column).type


_ESCAPE = "/"


def _pattern(op: str, value: str) -> str:
    """The LIKE pattern for a text operator; ``%`` and ``_`` in a substring are literal."""
    if op in ("like", "ilike"):
        return value
    escaped = value.replace(_ESCAPE, _ESCAPE * 2).replace("%", _ESCAPE + "%")
    escaped = escaped.replace("_", _ESCAPE + "_")
    if op == "contains":
        return f"%{escaped}%"
    return f"{escaped}%" if op == "startswith" else f"%{escaped}"


_terms: dict[tuple[type[Any], str], Term] = {}


def term_for(info: ModelInfo, key: str) -> Term:
    """Parse filter ``key`` for ``info``'s model (cached once it proved valid)."""
    found = _terms.get((info.model, key))
    if found is None:
        found = _parse(info, key)
        _terms[(info.model, key)] = found  # only valid keys get here: the cache is bounded
    return found


def _parse(info: ModelInfo, key: str) -> Term:
    parts = key.split("__")
    hops: list[tuple[ModelInfo, str]] = []
    current = info
    for index, part in enumerate(parts):
        if part in current.relationships and index < len(parts) - 1:
            hops.append((current, part))
            current = model_info(current.relationships[part].mapper.class_)
            continue
        if part in current.columns:
            rest = parts[index + 1 :]
            if len(rest) > 1 or (rest and rest[0] not in OPERATORS):
                raise _unknown_operator(key, rest)
            op = rest[0] if rest else "eq"
            if op in _TEXT_OPS:
                _check_text_column(current, part, key, op)
            return Term(key, tuple(hops), current, part, op, coercer(current, part, key))
        raise _unknown_field(key, part, current)
    raise _unknown_field(key, parts[-1], current)  # "team" alone: a relationship, no column


def _check_text_column(info: ModelInfo, name: str, key: str, op: str) -> None:
    """Text operators need a text column (PostgreSQL has no LIKE on integers)."""
    python_type = _python_type(info.column(name).type)
    if python_type is not None and python_type is not str:
        raise InvalidFilterError(
            f"{key}: {op} works on text columns; {info.name}.{name} holds "
            f"{python_type.__name__} values"
        )


def _through(
    hops: Sequence[tuple[ModelInfo, str]], expr: ColumnElement[bool]
) -> ColumnElement[bool]:
    """Wrap ``expr`` in EXISTS for each relationship hop (``has`` / ``any``)."""
    for owner, name in reversed(hops):
        attr = getattr(owner.model, name)
        expr = attr.any(expr) if owner.relationships[name].uselist else attr.has(expr)
    return expr


_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "eq": lambda a, v: a == v,
    "ne": lambda a, v: a != v,
    "lt": lambda a, v: a < v,
    "le": lambda a, v: a <= v,
    "gt": lambda a, v: a > v,
    "ge": lambda a, v: a >= v,
}


def _as_list(value: Any, key: str) -> list[Any]:
    if isinstance(value, str):
        return value.split(",") if value else []
    if isinstance(value, Iterable) and not isinstance(value, bytes | Mapping):
        return list(value)
    raise InvalidFilterError(f"{key}: expected a list of values, got {type(value).__name__}")


# ----------------------------------------------------------------------------- coercion


def coercer(info: ModelInfo, name: str, key: str) -> Callable[[Any], Any]:
    """A function that converts a raw value to column ``name``'s Python type."""
    column = info.column(name)
    python_type = _python_type(column.type)
    enum_class = getattr(column.type, "enum_class", None)

    def coerce(value: Any) -> Any:
        if value is None:
            return None
        try:
            return _convert(value, python_type, enum_class)
        except (ValueError, TypeError, ArithmeticError, KeyError) as exc:
            shown = repr(value)
            shown = shown if len(shown) <= _MAX_ECHO else shown[:_MAX_ECHO] + "…"
            kind = getattr(enum_class or python_type, "__name__", "value")
            raise InvalidFilterError(f"{key}: {shown} is not a valid {kind}") from exc

    return coerce


def _python_type(type_: Any) -> type[Any] | None:
    """The Python type of a column type, looking through TypeDecorators."""
    for candidate in (type_, getattr(type_, "impl_instance", None)):
        if candidate is None:
            continue
        try:
            found = candidate.python_type
        except NotImplementedError:
            continue
        if found is not object:  # TypeDecorator's own answer when it does not know
            return found  # type: ignore[no-any-return]
    return None


def _convert(value: Any, python_type: type[Any] | None, enum_class: Any) -> Any:
    if enum_class is not None:
        if isinstance(value, enum_class):
            return value
        try:
            return enum_class(value)
        except ValueError:
            return enum_class[value]
    if python_type is None or (
        isinstance(value, python_type) and not (python_type is int and isinstance(value, bool))
    ):
        return value
    if python_type is bool:
        return _to_bool(value, "value")
    if python_type is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError("not an integer")
        if isinstance(value, bool):
            raise TypeError("bool is not an integer")
        return int(value)
    if python_type in (float, decimal.Decimal, str):
        if python_type is str and not isinstance(value, int | float | decimal.Decimal):
            raise TypeError("not a string")
        return python_type(str(value) if python_type is decimal.Decimal else value)
    if python_type is uuid.UUID:
        return uuid.UUID(str(value))
    if python_type is dt.datetime:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if python_type is dt.date:
        return dt.date.fromisoformat(str(value))
    if python_type is dt.time:
        return dt.time.fromisoformat(str(value))
    if isinstance(python_type, type) and issubclass(python_type, enum.Enum):
        return python_type(value)
    return value


_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off"}


def _to_bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise InvalidFilterError(f"{key}: expected true or false, got {str(value)[:_MAX_ECHO]!r}")


# ----------------------------------------------------------------------------- ordering


@dataclass(frozen=True)
class SortKey:
    """One ``ORDER BY`` term: a column of the model and its direction."""

    key: str
    attr: InstrumentedAttribute[Any]
    descending: bool
    nullable: bool

    def clause(self) -> ColumnElement[Any]:
        return self.attr.desc() if self.descending else self.attr.asc()


def sort_keys(info: ModelInfo, order_by: Any) -> list[SortKey]:
    """Parse ``order_by``: ``"name"``, ``"-created_at"``, ``User.name``, ``User.name.desc()``."""
    if order_by is None:
        return []
    items = order_by if isinstance(order_by, list | tuple) else [order_by]
    return [_sort_key(info, item) for item in items]


def _sort_key(info: ModelInfo, item: Any) -> SortKey:
    descending = False
    if isinstance(item, str):
        name = item.strip()
        if name and name[0] in "-+":
            descending, name = name[0] == "-", name[1:]
        if name not in info.columns:
            raise InvalidFilterError(
                f"cannot order by {item!r}: {info.name} has no column {name!r}; "
                f"choose from {', '.join(sorted(info.columns))}"
            )
        return _make_sort_key(info, name, descending)
    if isinstance(item, UnaryExpression) and item.modifier in (asc_op, desc_op):
        descending = item.modifier is desc_op
        item = item.element
    key = getattr(item, "key", None)
    if key in info.columns and _same_attribute(info, key, item):
        return _make_sort_key(info, key, descending)
    raise InvalidFilterError(
        f"cannot order by {item!r}: pass a column of {info.name} or its name as a string"
    )


def _same_attribute(info: ModelInfo, key: str, item: Any) -> bool:
    attr = info.columns[key]
    return (
        item is attr
        or getattr(item, "class_", None) is info.model
        or (hasattr(item, "compare") and attr.expression.compare(item))
    )


def _make_sort_key(info: ModelInfo, key: str, descending: bool) -> SortKey:
    column = info.column(key)
    return SortKey(key, info.columns[key], descending, bool(column.nullable))


def order_clauses(info: ModelInfo, order_by: Any, *, tie_break: bool = True) -> list[Any]:
    """ORDER BY terms for ``order_by``, with the primary key appended to break ties."""
    keys = sort_keys(info, order_by)
    clauses: list[Any] = [k.clause() for k in keys]
    if tie_break:
        named = {k.key for k in keys}
        clauses += [info.columns[k].asc() for k in info.pk_keys if k not in named]
    return clauses


# ----------------------------------------------------------------------------- eager loading


def load_options(info: ModelInfo, load: Sequence[Any] | str) -> list[_AbstractLoad]:
    """``["team", "posts.tags"]`` -> joinedload for many-to-one, selectinload for collections."""
    if isinstance(load, str):
        load = [load]
    return [_load_path(info, item) for item in load]


def _load_path(info: ModelInfo, item: Any) -> _AbstractLoad:
    names = item.split(".") if isinstance(item, str) else [_relationship_key(info, item)]
    option: Any = None
    current = info
    for name in names:
        rel = current.relationships.get(name)
        if rel is None:
            valid = ", ".join(sorted(current.relationships)) or "none"
            raise InvalidFilterError(
                f"cannot load {item!r}: {current.name} has no relationship {name!r} "
                f"(relationships: {valid})"
            )
        attr = getattr(current.model, name)
        loader = selectinload if rel.uselist else joinedload
        option = loader(attr) if option is None else getattr(option, loader.__name__)(attr)
        current = model_info(rel.mapper.class_)
    return option  # type: ignore[no-any-return]


def _relationship_key(info: ModelInfo, attr: Any) -> str:
    key = getattr(attr, "key", None)
    if key in info.relationships and getattr(attr, "class_", None) is info.model:
        return str(key)
    raise InvalidFilterError(f"cannot load {attr!r}: not a relationship of {info.name}")


# ----------------------------------------------------------------------------- errors


def _unknown_field(key: str, part: str, info: ModelInfo) -> InvalidFilterError:
    fields = sorted(info.columns) + sorted(f"{r}__…" for r in info.relationships)
    shown = part[:_MAX_ECHO] if part else "(empty)"
    return InvalidFilterError(
        f"unknown filter {key[:_MAX_ECHO]!r}: {info.name} has no field {shown!r}; "
        f"valid fields: {', '.join(fields)}"
    )


def _unknown_operator(key: str, rest: list[str]) -> InvalidFilterError:
    op = "__".join(rest)[:_MAX_ECHO]
    return InvalidFilterError(
        f"unknown filter operator {op!r} in {key[:_MAX_ECHO]!r}; "
        f"valid operators: {', '.join(OPERATORS)}"
    )


def conjunction(conditions: Sequence[ColumnElement[bool]]) -> ColumnElement[bool]:
    """AND of ``conditions`` (TRUE when there are none)."""
    return and_(true(), *conditions) if conditions else true()


__all__ = ["OPERATORS", "SortKey", "build_where", "false", "load_options", "or_"]
