"""``column IN (...)`` that works for any number of values on every backend.

asyncpg sends at most 32,767 parameters per statement, and ``IN`` binds one per value,
so ``id__in=range(100_000)`` failed there. On PostgreSQL a long list is bound as one
array instead: ``column = ANY(:values)`` (``<> ALL`` for NOT IN), which the planner
treats exactly as the IN list it rewrites IN into anyway, NULL semantics included.
Short lists keep the plain ``IN`` (and its cached statement shapes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, all_, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import Boolean, Enum, TypeEngine

LONG = 1000  # above this many values, PostgreSQL gets one array parameter


def membership(attr: Any, values: Sequence[Any], negate: bool) -> ColumnElement[bool]:
    """``attr IN values`` (or NOT IN), bound as an array on PostgreSQL when long."""
    if len(values) <= LONG:
        return attr.not_in(values) if negate else attr.in_(values)  # type: ignore[no-any-return]
    return _LongIn(attr, list(values), negate)


class _LongIn(ColumnElement[bool]):
    """A long IN list, compiled per dialect (see the module docstring)."""

    type = Boolean()
    inherit_cache = False  # the values are part of the element: never a cached shape

    def __init__(self, attr: Any, values: list[Any], negate: bool) -> None:
        self.attr, self.values, self.negate = attr, values, negate

    def plain(self) -> ColumnElement[bool]:
        attr = self.attr
        return attr.not_in(self.values) if self.negate else attr.in_(self.values)  # type: ignore[no-any-return]

    def as_array(self) -> ColumnElement[bool]:
        element_type = _array_element_type(self.attr.type)
        values = self.values
        if isinstance(self.attr.type, Enum):  # stored as its names/values: bind those
            processor = self.attr.type.bind_processor(None)  # type: ignore[no-untyped-call]
            values = [processor(v) if processor else v for v in values]
        array = bindparam(None, values, type_=ARRAY(element_type))
        return self.attr != all_(array) if self.negate else self.attr == any_(array)  # type: ignore[no-any-return]


def _array_element_type(column_type: TypeEngine[Any]) -> TypeEngine[Any]:
    if isinstance(column_type, Enum) and not column_type.native_enum:
        return String()
    return column_type


@compiles(_LongIn)
def _compile_plain(element: _LongIn, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.plain(), **kw)


@compiles(_LongIn, "postgresql")
def _compile_postgresql(element: _LongIn, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.as_array(), **kw)
