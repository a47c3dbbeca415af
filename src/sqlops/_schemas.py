"""Schemas in and out: Pydantic v2 models, dataclasses and mappings at the repository's edge.

In: :func:`values_of` turns a Pydantic model instance, a dataclass instance or a mapping
into column values (for ``update``, a Pydantic model gives only its ``model_fields_set``).

Out: ``schema=Out`` on a read. :func:`plan_for` reads the schema's fields once: the
columns it names become ``load_only`` (plus what sqlops itself needs: keys, soft delete,
cursor keys), and each field that is a relationship becomes a ``selectinload`` with its
own nested plan — so building ``Out`` touches only loaded attributes: no lazy load, no
N+1, whatever the schema nests. :func:`convert` builds the instances; a Pydantic
``ValidationError`` becomes :class:`SchemaError` naming the field.

Pydantic is optional: it is imported only when a Pydantic schema is used.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import load_only, selectinload

from ._errors import SchemaError
from ._modelinfo import ModelInfo, model_info

if TYPE_CHECKING:
    from ._reads import Reads

_MAX_DEPTH = 8
_COLLECTIONS = (list, tuple, set, frozenset, Sequence, Iterable)


def _is_pydantic(obj: Any) -> bool:
    """Whether ``obj`` is a Pydantic v2 model class or instance (without importing it)."""
    cls = obj if isinstance(obj, type) else type(obj)
    return any(
        k.__module__.startswith("pydantic") and k.__name__ == "BaseModel" for k in cls.__mro__
    )


def _pydantic() -> Any:
    try:
        import pydantic
    except ImportError as exc:
        raise ImportError(
            "schema= with a Pydantic model needs pydantic: pip install 'sqlops[fastapi]'"
        ) from exc
    return pydantic


# ----------------------------------------------------------------------------- in


def is_schema(obj: Any) -> bool:
    """Whether ``obj`` is a value sqlops reads columns from (not a model instance)."""
    if _mapped(obj):  # a SQLModel table or a MappedAsDataclass row is a model, not a schema
        return False
    if isinstance(obj, Mapping) or _is_pydantic(obj):
        return True
    return dataclasses.is_dataclass(obj) and not isinstance(obj, type)


def _mapped(obj: Any) -> bool:
    return hasattr(type(obj), "__mapper__") or hasattr(obj, "_sa_instance_state")


def values_of(obj: Any, *, partial: bool = False) -> dict[str, Any]:
    """The column values in ``obj``; with ``partial``, a Pydantic model's set fields only."""
    if isinstance(obj, Mapping):
        return dict(obj)
    if _is_pydantic(obj):
        dumped: dict[str, Any] = obj.model_dump(exclude_unset=partial)
        return dumped
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    raise TypeError(
        f"expected a mapping, a Pydantic model or a dataclass instance, got {type(obj).__name__}"
    )


# ----------------------------------------------------------------------------- out


@dataclass(frozen=True)
class SchemaPlan:
    """What one schema needs of one model: columns, nested relationships, how to build."""

    schema: type[Any]
    info: ModelInfo
    columns: tuple[str, ...] | None  # None: every column (a field sqlops cannot place)
    nested: tuple[tuple[str, SchemaPlan | None], ...]
    pydantic: bool

    def options(self, *, restrict: bool = True, extra: Iterable[str] = ()) -> list[Any]:
        """Loader options for a SELECT of the model: ``load_only`` + nested selectinloads."""
        found: list[Any] = []
        if restrict and self.columns is not None:
            keys = dict.fromkeys((*self.columns, *extra, *self._needed()))
            found.append(load_only(*(self.info.columns[k] for k in keys)))
        for key, child in self.nested:
            loader = selectinload(getattr(self.info.model, key))
            if child is not None:
                loader = loader.options(
                    *child.options(restrict=restrict, extra=_remote(self.info, key))
                )
            found.append(loader)
        return found

    def _needed(self) -> list[str]:
        info = self.info
        keys = list(info.pk_keys)
        if info.soft_delete is not None:
            keys.append(info.soft_delete.key)
        for key, _ in self.nested:
            keys.extend(_local(info, key))
        return keys

    def convert(self, obj: Any) -> Any:
        """``schema`` built from the loaded instance ``obj``."""
        if self.pydantic:
            pydantic = _pydantic()
            built = {  # Pydantic cannot build a plain dataclass from attributes: we do
                key: _convert_value(child, value)
                for key, child in self.nested
                if child is not None and not child.pydantic
                if (value := getattr(obj, key)) is not None
            }
            source = _Overlay(obj, built) if built else obj
            try:
                return self.schema.model_validate(source, from_attributes=True)
            except pydantic.ValidationError as exc:
                raise _validation_error(self.schema, exc) from exc
        return self._dataclass(obj)

    def _dataclass(self, obj: Any) -> Any:
        nested = dict(self.nested)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(self.schema):
            if not field.init:
                continue
            if not hasattr(obj, field.name):
                if (
                    field.default is dataclasses.MISSING
                    and field.default_factory is dataclasses.MISSING
                ):
                    raise SchemaError(
                        f"{self.schema.__name__}.{field.name}: {self.info.name} has no attribute "
                        f"{field.name!r}",
                        schema=self.schema,
                        field=field.name,
                    )
                continue
            value = getattr(obj, field.name)
            child = nested.get(field.name)
            if child is not None and value is not None:
                value = _convert_value(child, value)
            values[field.name] = value
        try:
            return self.schema(**values)
        except (TypeError, ValueError) as exc:
            raise SchemaError(f"{self.schema.__name__}: {exc}", schema=self.schema) from exc


class _Overlay:
    """``obj``'s attributes, with some replaced by values sqlops converted itself."""

    __slots__ = ("_obj", "_values")

    def __init__(self, obj: Any, values: dict[str, Any]) -> None:
        self._obj, self._values = obj, values

    def __getattr__(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        return getattr(self._obj, name)


def _convert_value(plan: SchemaPlan, value: Any) -> Any:
    if isinstance(value, list):  # a relationship's InstrumentedList too
        return [plan.convert(v) for v in value]
    if isinstance(value, set | frozenset):
        return {plan.convert(v) for v in value}
    if isinstance(value, tuple):
        return tuple(plan.convert(v) for v in value)
    return plan.convert(value)


def _local(info: ModelInfo, key: str) -> list[str]:
    """Columns of ``info``'s model that relationship ``key`` joins on (to keep loaded)."""
    rel = info.relationships[key]
    return _keys_of(info, rel.local_columns)


def _remote(info: ModelInfo, key: str) -> list[str]:
    """Columns of the related model the relationship joins on."""
    rel = info.relationships[key]
    target = model_info(rel.mapper.class_)
    return _keys_of(target, rel.remote_side)


def _keys_of(info: ModelInfo, columns: Iterable[Any]) -> list[str]:
    mapper = info.mapper
    keys = []
    for column in columns:
        if mapper.persist_selectable.c.contains_column(column):
            keys.append(mapper.get_property_by_column(column).key)
    return keys


def _validation_error(schema: type[Any], exc: Any) -> SchemaError:
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0] if errors else {}
    field = ".".join(str(part) for part in first.get("loc", ())) or None
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    message = f"{schema.__name__}.{field}: {first.get('msg', 'invalid')}{more}"
    return SchemaError(message, schema=schema, field=field, errors=errors)


_plans: dict[tuple[type[Any], type[Any]], SchemaPlan] = {}


def plan_for(model: type[Any], schema: type[Any]) -> SchemaPlan:
    """The (cached) plan for reading ``model`` rows as ``schema``."""
    found = _plans.get((model, schema))
    if found is None:
        found = _plans[(model, schema)] = _make_plan(model_info(model), schema, ())
    return found


def _make_plan(info: ModelInfo, schema: type[Any], seen: tuple[type[Any], ...]) -> SchemaPlan:
    if len(seen) >= _MAX_DEPTH or schema in seen:
        chain = " -> ".join(s.__name__ for s in (*seen, schema))
        raise SchemaError(f"schema nests itself ({chain}); nest a smaller schema", schema=schema)
    pydantic = _is_pydantic(schema)
    fields = _fields(schema, pydantic)
    columns: list[str] | None = []
    nested: list[tuple[str, SchemaPlan | None]] = []
    for name, annotation in fields.items():
        if name in info.columns:
            if columns is not None:
                columns.append(name)
        elif name in info.relationships:
            target = _schema_in(annotation)
            child_info = model_info(info.relationships[name].mapper.class_)
            child = None if target is None else _make_plan(child_info, target, (*seen, schema))
            nested.append((name, child))
        else:  # a property, a hybrid, a computed field: it may read any column
            columns = None
    return SchemaPlan(
        schema=schema,
        info=info,
        columns=None if columns is None else tuple(columns),
        nested=tuple(nested),
        pydantic=pydantic,
    )


def _fields(schema: type[Any], pydantic: bool) -> dict[str, Any]:
    """Attribute name -> annotation of each field ``schema`` reads from an object."""
    if pydantic:
        found: dict[str, Any] = {}
        for name, info in schema.model_fields.items():
            alias = info.validation_alias if isinstance(info.validation_alias, str) else None
            found[alias or info.alias or name] = info.annotation
        return found
    if dataclasses.is_dataclass(schema):
        hints = typing.get_type_hints(schema)
        return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(schema) if f.init}
    raise TypeError(f"schema= takes a Pydantic model or a dataclass class, got {schema!r}")


def _schema_in(annotation: Any) -> type[Any] | None:
    """The schema class inside ``annotation`` (``Out``, ``list[Out]``, ``Out | None``…)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _schema_in(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        found = [_schema_in(a) for a in typing.get_args(annotation) if a is not type(None)]
        return next((f for f in found if f is not None), None)
    if origin is not None and (origin in _COLLECTIONS or _is_collection(origin)):
        args = typing.get_args(annotation)
        return _schema_in(args[0]) if args else None
    if isinstance(annotation, type) and (
        _is_pydantic(annotation) or dataclasses.is_dataclass(annotation)
    ):
        return annotation
    return None


def _is_collection(origin: Any) -> bool:
    return isinstance(origin, type) and issubclass(origin, Iterable) and origin is not str


# ----------------------------------------------------------------------------- streams


def pages_instead(repo: Reads[Any], schema: Any) -> bool:
    """Whether ``stream(schema=…)`` must read keyset pages instead of a server-side cursor.

    MariaDB cannot run the nested relationships' SELECTs on a connection whose unbuffered
    result is still open; keyset pages keep memory flat and never skip or repeat a row.
    """
    return (
        schema is not None and bool(plan_for(repo.model, schema).nested) and repo.dialect == "mysql"
    )


async def stream_pages(
    repo: Reads[Any],
    where: Sequence[Any],
    order_by: Any,
    batch_size: int,
    with_deleted: bool,
    schema: Any,
    filters: dict[str, Any],
) -> AsyncIterator[Any]:
    """Yield ``schema`` instances, ``batch_size`` rows (one cursor page) at a time."""
    after = None
    while True:
        page = await repo.cursor_page(
            *where,
            after=after,
            limit=batch_size,
            order_by=order_by,
            with_deleted=with_deleted,
            schema=schema,
            **filters,
        )
        for item in page.items:
            yield item
        if page.next_cursor is None:
            return
        after = page.next_cursor
