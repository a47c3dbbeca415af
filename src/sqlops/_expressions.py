"""Filter expressions: ``Q`` (the keyword DSL as a value) and ``Search`` (words in columns).

Both are small frozen values that know no model: a repository resolves them against its
own model when a call uses them, through the same parser, allow-list and type conversion
as keyword filters (:mod:`sqlops._filters`), so a ``Q`` built from a query string is as
safe as ``**filters``. Combine them with ``&``, ``|`` and ``~``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, true
from sqlalchemy.orm import QueryableAttribute

from . import _filters
from ._errors import InvalidFilterError
from ._modelinfo import ModelInfo, model_info

MAX_SEARCH_WORDS = 32
MAX_SEARCH_LENGTH = 1000

Item = Any  # a (key, value) filter pair, an Expression, or a SQLAlchemy boolean expression


class Expression:
    """What ``Q`` and ``Search`` share: ``&``, ``|``, ``~`` and resolution against a model."""

    __slots__ = ()

    def __and__(self, other: object) -> Q:
        return _combine("and", self, other)

    def __or__(self, other: object) -> Q:
        return _combine("or", self, other)

    def __rand__(self, other: object) -> Q:
        return _combine("and", other, self)

    def __ror__(self, other: object) -> Q:
        return _combine("or", other, self)

    def __invert__(self) -> Q:
        return Q._node((self,), "and", negated=True)

    def __bool__(self) -> bool:
        raise TypeError("combine Q and Search with &, | and ~, not with and, or, not")

    def resolve(self, info: ModelInfo, dialect: str) -> ColumnElement[bool]:
        """The SQL condition for ``info``'s model on ``dialect``."""
        raise NotImplementedError

    @property
    def empty(self) -> bool:
        """Whether this is no condition at all (``Q()``, a blank ``Search``)."""
        raise NotImplementedError


def _combine(connector: str, left: object, right: object) -> Q:
    for side in (left, right):
        if not isinstance(side, Expression | ColumnElement):
            raise TypeError(f"cannot combine a Q or Search with {type(side).__name__}")
    items: list[Item] = []
    for side in (left, right):
        if isinstance(side, Q) and side.connector == connector and not side.negated:
            items += side.items
        else:
            items.append(side)
    return Q._node(tuple(items), connector)


@dataclass(frozen=True, init=False, repr=False)
class Q(Expression):
    """The keyword filter DSL as a value: ``Q(name="a") | Q(email__endswith="@x.io")``.

    Positional arguments (other ``Q`` / ``Search`` values or SQLAlchemy boolean
    expressions) are ANDed with the keyword filters. ``~q`` matches exactly the rows ``q``
    does not (a NULL comparison counts as "not matched", as in Django).
    """

    items: tuple[Item, ...]
    connector: str
    negated: bool

    def __init__(self, *expressions: Any, **filters: Any) -> None:
        for expr in expressions:
            if not isinstance(expr, Expression | ColumnElement):
                raise TypeError(
                    f"Q() takes Q, Search or SQLAlchemy expressions positionally, "
                    f"not {type(expr).__name__}; use keywords for filters"
                )
        pairs = tuple((key, _frozen(value)) for key, value in filters.items())
        object.__setattr__(self, "items", (*expressions, *pairs))
        object.__setattr__(self, "connector", "and")
        object.__setattr__(self, "negated", False)

    @classmethod
    def _node(cls, items: tuple[Item, ...], connector: str, negated: bool = False) -> Q:
        node = cls.__new__(cls)
        object.__setattr__(node, "items", items)
        object.__setattr__(node, "connector", connector)
        object.__setattr__(node, "negated", negated)
        return node

    def __repr__(self) -> str:
        if self.negated and len(self.items) == 1:
            return "~" + _item_repr(self.items[0])
        if self.connector == "and" and all(isinstance(i, tuple) for i in self.items):
            text = "Q(" + ", ".join(f"{k}={v!r}" for k, v in self.items) + ")"
        else:
            joiner = " & " if self.connector == "and" else " | "
            text = "(" + joiner.join(map(_item_repr, self.items)) + ")"
        return "~" + text if self.negated else text

    @property
    def empty(self) -> bool:
        """Whether this matches every row: an AND of blanks, or an OR with one blank."""
        if self.negated:
            return False
        if self.connector == "or":
            return any(_item_empty(i) for i in self.items)
        return all(_item_empty(i) for i in self.items)

    def resolve(self, info: ModelInfo, dialect: str) -> ColumnElement[bool]:
        resolved = (_resolve_item(info, dialect, item) for item in self.items)
        parts = [p for p in resolved if p is not None]
        if not parts or (self.connector == "or" and len(parts) < len(self.items)):
            expr: ColumnElement[bool] = true()
        elif len(parts) == 1:
            expr = parts[0]
        else:
            expr = and_(*parts) if self.connector == "and" else or_(*parts)
        if self.negated:
            # NOT (x = 1) is NULL, not TRUE, where x is NULL: coalesce keeps ~q the complement.
            return not_(func.coalesce(expr, false()))
        return expr


def _frozen(value: Any) -> Any:
    """Lists become tuples, so a Q is hashable whenever its values are."""
    return tuple(value) if isinstance(value, list | set | frozenset) else value


def _item_empty(item: Item) -> bool:
    value = item[1] if isinstance(item, tuple) else item
    return isinstance(value, Expression) and value.empty


def _item_repr(item: Item) -> str:
    if isinstance(item, tuple):
        return f"Q({item[0]}={item[1]!r})"
    return repr(item)


def _resolve_item(info: ModelInfo, dialect: str, item: Item) -> ColumnElement[bool] | None:
    if _item_empty(item):
        return None
    if isinstance(item, Expression):
        return item.resolve(info, dialect)
    if isinstance(item, tuple):
        key, value = item
        if isinstance(value, Expression):
            return value.resolve(info, dialect)
        return _filters.build_where(info, {key: value})[0]
    return item  # type: ignore[no-any-return]  # a SQLAlchemy expression, as in *where


@dataclass(frozen=True, init=False, repr=False)
class Search(Expression):
    """Every word of ``text`` in any of ``fields``, case-insensitively: ``Search("ada lo",
    "name", "email", "team.name")``.

    Words are ANDed, fields ORed; ``%``, ``_`` and ``\\`` are literal; a dotted field follows
    relationships (EXISTS). Blank text is no condition. At most ``Search.MAX_WORDS`` (32)
    distinct words and ``Search.MAX_LENGTH`` (1,000) characters, else
    :class:`InvalidFilterError`.
    """

    MAX_WORDS: ClassVar[int] = MAX_SEARCH_WORDS
    MAX_LENGTH: ClassVar[int] = MAX_SEARCH_LENGTH

    text: str
    fields: tuple[str, ...]
    words: tuple[str, ...]
    owners: tuple[type[Any] | None, ...]

    def __init__(self, text: str | None, *fields: Any) -> None:
        if not fields:
            raise InvalidFilterError("Search needs at least one field to search in")
        keys, owners = zip(*(_field_key(f) for f in fields), strict=True)
        object.__setattr__(self, "text", "" if text is None else text)
        object.__setattr__(self, "fields", keys)
        object.__setattr__(self, "owners", owners)
        object.__setattr__(self, "words", _words(text))

    def __repr__(self) -> str:
        fields = ", ".join(repr(f.replace("__", ".")) for f in self.fields)
        return f"Search({self.text!r}, {fields})"

    @property
    def empty(self) -> bool:
        return not self.words

    def resolve(self, info: ModelInfo, dialect: str) -> ColumnElement[bool]:
        if not self.words:
            return true()
        groups = _field_groups(info, self.fields, self.owners)
        conditions = []
        for word in self.words:
            anywhere = [
                _filters._through(hops, or_(*(_match(a, word, dialect) for a in attrs)))
                for hops, attrs in groups
            ]
            conditions.append(or_(*anywhere) if len(anywhere) > 1 else anywhere[0])
        return and_(*conditions) if len(conditions) > 1 else conditions[0]


def _field_key(field: Any) -> tuple[str, type[Any] | None]:
    if isinstance(field, str):
        if not field:
            raise InvalidFilterError("Search field names cannot be empty")
        return field.replace(".", "__"), None
    if isinstance(field, QueryableAttribute):
        owner = field.class_
        return field.key, owner if isinstance(owner, type) else None
    raise InvalidFilterError(
        f"Search fields are column names, dotted paths or model attributes, "
        f"not {type(field).__name__}"
    )


def _words(text: Any) -> tuple[str, ...]:
    if text is None:
        return ()
    if not isinstance(text, str):
        raise InvalidFilterError(f"search text must be a string, not {type(text).__name__}")
    if len(text) > MAX_SEARCH_LENGTH:
        raise InvalidFilterError(
            f"search text is {len(text)} characters long; at most {MAX_SEARCH_LENGTH} allowed"
        )
    if "\x00" in text:
        raise InvalidFilterError("search text contains a NUL character")
    seen: dict[str, str] = {}
    for word in text.split():
        seen.setdefault(word.casefold(), word)  # "Ada ada ADA" is one word
    words = tuple(seen.values())
    if len(words) > MAX_SEARCH_WORDS:
        raise InvalidFilterError(
            f"search text has {len(words)} distinct words; at most {MAX_SEARCH_WORDS} allowed"
        )
    return words


def _field_groups(
    info: ModelInfo, fields: Sequence[str], owners: Sequence[type[Any] | None]
) -> list[tuple[tuple[tuple[ModelInfo, str], ...], list[Any]]]:
    """The searched columns, grouped by relationship path (one EXISTS per path and word)."""
    groups: dict[tuple[str, ...], tuple[tuple[tuple[ModelInfo, str], ...], list[Any]]] = {}
    for key, owner in zip(fields, owners, strict=True):
        if owner is not None and not issubclass(info.model, owner):
            raise InvalidFilterError(
                f"cannot search {owner.__name__}.{key}: not a column of {info.name}"
            )
        _refuse_relationship(info, key)
        term = _filters.term_for(info, f"{key}__contains")  # validates path and text type
        path = tuple(name for _, name in term.hops)
        _, attrs = groups.setdefault(path, (term.hops, []))
        attrs.append(term.owner.columns[term.column])
    return list(groups.values())


def _refuse_relationship(info: ModelInfo, key: str) -> None:
    current = info
    for part in key.split("__"):
        relationship = current.relationships.get(part)
        if relationship is None:
            return
        current = model_info(relationship.mapper.class_)
    shown = key.replace("__", ".")
    text = [
        c for c in sorted(current.columns) if _filters._python_type(current.column(c).type) is str
    ]
    example = (text or sorted(current.columns))[0]
    raise InvalidFilterError(
        f"cannot search {shown!r}: a relationship; name its columns, e.g. '{shown}.{example}'"
    )


def _match(attr: Any, word: str, dialect: str) -> ColumnElement[bool]:
    """``attr`` contains ``word``, case-insensitively, with wildcards literal."""
    if dialect == "sqlite" and not word.isascii():
        # SQLite's LIKE and lower() fold ASCII only; GLOB with [üÜ] classes folds the rest.
        return attr.op("GLOB", is_comparison=True)(_glob(word))  # type: ignore[no-any-return]
    return attr.ilike(_filters._pattern("contains", word), escape=_filters._ESCAPE)  # type: ignore[no-any-return]


def _glob(word: str) -> str:
    out = []
    for char in word:
        if char in "*?[":
            out.append(f"[{char}]")
            continue
        variants = [c for c in dict.fromkeys((char, char.lower(), char.upper())) if len(c) == 1]
        out.append(f"[{''.join(variants)}]" if len(variants) > 1 else char)
    return f"*{''.join(out)}*"


# ----------------------------------------------------------------------------- where

Where = ColumnElement[bool] | Expression
"""What ``*where`` takes: SQLAlchemy boolean expressions, ``Q`` and ``Search`` values."""


def where_clauses(
    info: ModelInfo,
    dialect: str,
    where: Iterable[Any],
    filters: Mapping[str, Any],
) -> list[ColumnElement[bool]]:
    """``*where`` (expressions, ``Q``, ``Search``) and ``**filters`` as SQL conditions.

    A ``Q`` or ``Search`` may also be a keyword value (the key only names it): that is how
    ``sqlops.fastapi.query_filters(search=…)`` puts ``?q=`` into ``**filters``.
    """
    out: list[ColumnElement[bool]] = []
    for item in where:
        if isinstance(item, Expression):
            if not item.empty:
                out.append(item.resolve(info, dialect))
        else:
            out.append(item)
    plain: dict[str, Any] = {}
    for key, value in filters.items():
        if isinstance(value, Expression):
            if not value.empty:
                out.append(value.resolve(info, dialect))
        else:
            plain[key] = value
    return out + _filters.build_where(info, plain)


def plain_filters(filters: Mapping[str, Any]) -> bool:
    """Whether ``filters`` are keyword filters only (no ``Q`` / ``Search`` values)."""
    return not any(isinstance(v, Expression) for v in filters.values())


def plain(where: Iterable[Any], filters: Mapping[str, Any]) -> bool:
    """Whether neither ``where`` nor ``filters`` holds a ``Q`` / ``Search``."""
    return not any(isinstance(w, Expression) for w in where) and plain_filters(filters)


def has_condition(where: Iterable[Any], filters: Mapping[str, Any]) -> bool:
    """Whether anything in ``where`` / ``filters`` restricts the rows (blank searches do not)."""
    if any(not (isinstance(w, Expression) and w.empty) for w in where):
        return True
    return any(not (isinstance(v, Expression) and v.empty) for v in filters.values())


__all__ = [
    "MAX_SEARCH_LENGTH",
    "MAX_SEARCH_WORDS",
    "Expression",
    "Q",
    "Search",
    "Where",
    "where_clauses",
]
