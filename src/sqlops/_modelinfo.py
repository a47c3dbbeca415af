"""What the repository needs to know about a mapped class, computed once per class."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table, inspect
from sqlalchemy.orm import (
    MANYTOONE,
    ColumnProperty,
    InstrumentedAttribute,
    Mapper,
    RelationshipProperty,
)

from . import _checks, _translate
from ._errors import InvalidValueError


@dataclass(frozen=True)
class ModelInfo:
    """Columns, keys and relationships of one mapped class."""

    model: type[Any]
    mapper: Mapper[Any]
    table: Table
    name: str
    pk_keys: tuple[str, ...]
    columns: dict[str, InstrumentedAttribute[Any]]
    relationships: dict[str, RelationshipProperty[Any]]
    soft_delete: InstrumentedAttribute[Any] | None
    pk_types: tuple[type[Any] | None, ...]
    value_checks: dict[str, Callable[[Any], Any]]

    @property
    def inherits(self) -> bool:
        """Whether the model is part of an inheritance hierarchy (joined or single-table).

        Such models need the ORM's statements: their rows span several tables, or carry
        a discriminator that Core statements on ``table`` would not set or filter by.
        """
        return self.mapper.inherits is not None or self.mapper.polymorphic_on is not None

    @property
    def multi_table(self) -> bool:
        """Whether a row spans several tables (joined-table inheritance)."""
        return len(self.mapper.tables) > 1

    @property
    def pk_attrs(self) -> tuple[InstrumentedAttribute[Any], ...]:
        return tuple(self.columns[k] for k in self.pk_keys)

    def column(self, key: str) -> Column[Any]:
        """The table column behind attribute ``key``."""
        return self.mapper.columns[key]

    def not_columns(self, keys: Sequence[str]) -> str:
        """Names that are not columns, for an error message: with what to pass instead when
        one is a relationship (``'team'`` → ``team_id``)."""
        out = []
        for key in keys:
            relationship = self.relationships.get(key)
            if relationship is None:
                out.append(repr(key))
            elif relationship.direction is MANYTOONE:
                columns = [
                    self.mapper.get_property_by_column(c).key for c in relationship.local_columns
                ]
                out.append(f"{key!r} (a relationship: pass {', '.join(columns)})")
            else:
                out.append(f"{key!r} (a relationship: write its rows through their repository)")
        return ", ".join(out)

    def check_values(self, values: Mapping[str, Any], action: str = "set") -> dict[str, Any]:
        """The values as the columns' types; :class:`InvalidValueError` for an unknown column
        or a value it cannot hold."""
        unknown = [k for k in values if k not in self.columns]
        if unknown:
            raise InvalidValueError(
                f"cannot {action} {self.not_columns(unknown)}: {self.name} has no such "
                f"column; columns are {', '.join(sorted(self.columns))}",
                table=self.table.name,
                column=unknown[0] if len(unknown) == 1 else None,
            )
        return self.check_types(values)

    def check_types(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Refuse values the database would store wrongly rather than reject (see _checks);
        return them as the columns' Python types."""
        checks = self.value_checks
        out = dict(values)
        for key, value in values.items():
            check = checks.get(key)
            if check is not None:
                out[key] = check(value)
        return out


_cache: dict[type[Any], ModelInfo] = {}


def model_info(model: type[Any]) -> ModelInfo:
    """Inspect ``model`` (a mapped class, SQLModel table included) once."""
    found = _cache.get(model)
    if found is None:
        found = _cache[model] = _inspect_model(model)
    return found


def _inspect_model(model: type[Any]) -> ModelInfo:
    try:
        mapper: Mapper[Any] = inspect(model)
    except Exception as exc:
        raise TypeError(f"{model!r} is not a mapped class (no table)") from exc
    local = mapper.local_table
    if not isinstance(local, Table):  # pragma: no cover - mapped to a select()
        raise TypeError(f"{model.__name__} is not mapped to a table")
    _translate.register_metadata(local.metadata)
    columns = {
        prop.key: getattr(model, prop.key)
        for prop in mapper.attrs
        if isinstance(prop, ColumnProperty)
    }
    pk_keys = tuple(mapper.get_property_by_column(c).key for c in mapper.primary_key)
    soft_key = getattr(model, "__sqlops_soft_delete__", None)
    if soft_key is None and _is_soft_delete(model):
        soft_key = "deleted_at"
    return ModelInfo(
        model=model,
        mapper=mapper,
        table=local,
        name=model.__name__,
        pk_keys=pk_keys,
        columns=columns,
        relationships={r.key: r for r in mapper.relationships},
        soft_delete=columns.get(soft_key) if soft_key else None,
        pk_types=tuple(_python_type(mapper.columns[k].type) for k in pk_keys),
        value_checks=_checks.for_columns(local.name, {k: mapper.columns[k] for k in columns}),
    )


def _python_type(type_: Any) -> type[Any] | None:
    try:
        found = type_.python_type
    except NotImplementedError:
        return None
    return found if isinstance(found, type) and found is not object else None


def _is_soft_delete(model: type[Any]) -> bool:
    from .models import SoftDelete

    return issubclass(model, SoftDelete)
