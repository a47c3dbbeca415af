"""The framework-free core of the CRUD routers: what to serve, parameters in, schemas out.

A :class:`Resource` says what a router serves — the model, its read / create / update
schemas, the allowlisted filters, search fields and orderings. The functions below turn
checked query parameters into one repository call and model instances into the read
schema. ``sqlops.fastapi.crud_router`` is a thin layer over them; another framework's
router would be one too.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, create_model

from . import _filters, models
from ._modelinfo import ModelInfo, model_info
from ._params import LIST_OPS, CursorParams, PageParams
from ._repository import Repository

ENDPOINTS = ("list", "get", "create", "update", "delete")
PAGINATIONS = ("offset", "cursor")
SEARCH_PARAM = "q"
_PLAIN_TYPES = (bool, int, float, decimal.Decimal, str, uuid.UUID, dt.datetime, dt.date, dt.time)


@dataclass(frozen=True)
class Resource:
    """What a CRUD router serves: a model, its schemas and its allowlists (checked here)."""

    model: type[Any]
    read: type[BaseModel]
    create: type[BaseModel] | None = None
    update: type[BaseModel] | None = None
    filters: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    order: tuple[str, ...] = ()
    pagination: str = "offset"

    def __post_init__(self) -> None:
        if self.pagination not in PAGINATIONS:
            raise ValueError(f"pagination must be 'offset' or 'cursor', not {self.pagination!r}")
        for key in self.filters:
            _filters.term_for(self.info, key)  # a typo fails at startup, not per request
        _filters.sort_keys(self.info, list(self.order))
        if self.search and search_class() is None:
            raise TypeError("search= needs sqlops.Search, which this sqlops version lacks")

    @property
    def read_options(self) -> dict[str, Any]:
        """``schema=read`` when ``read`` nests a relationship, so reads eager-load it.

        A flat schema keeps the standalone fast read path (no ``schema=``): it needs
        nothing that path does not load.
        """
        nested = set(self.read.model_fields) & set(self.info.mapper.relationships.keys())
        return {"schema": self.read} if nested else {}

    @property
    def info(self) -> ModelInfo:
        return model_info(self.model)

    @property
    def name(self) -> str:
        return self.info.table.name


# ----------------------------------------------------------------------------- parameters


def filter_annotation(info: ModelInfo, key: str) -> Any:
    """The query parameter's type for filter ``key``: the column's, a list, or a bool."""
    term = _filters.term_for(info, key)
    if term.op == "is_null":
        return bool
    if key.endswith(LIST_OPS):
        return list[str]
    if term.op in ("like", "ilike", "contains", "startswith", "endswith"):
        return str
    found = _filters._python_type(term.column_type)
    enum_class = getattr(term.column_type, "enum_class", None)
    if isinstance(enum_class, type) and issubclass(enum_class, enum.Enum):
        return enum_class
    return found if found in _PLAIN_TYPES else str


def clean_filters(values: Mapping[str, Any]) -> dict[str, Any]:
    """Drop absent filters; split ``a,b`` inside the list operators' repeated values."""
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if key.endswith(LIST_OPS) and isinstance(value, list):
            value = [part for item in value for part in str(item).split(",")]
        cleaned[key] = value
    return cleaned


def search_class() -> Any:
    """HOOK(search): ``sqlops.Search`` when this version has it, else None."""
    import sqlops

    return getattr(sqlops, "Search", None)


def where_for(resource: Resource, q: str | None) -> list[Any]:
    """The positional criteria of a list call: ``Search(q, *fields)`` when ``?q=`` is set."""
    if not q or not resource.search:
        return []
    return [search_class()(q, *resource.search)]


# ----------------------------------------------------------------------------- schemas


def to_read(read: type[BaseModel], obj: Any) -> BaseModel:
    """``obj`` (a model instance) as the read schema; an instance of it passes through."""
    if isinstance(obj, read):
        return obj
    return read.model_validate(obj, from_attributes=True)


def create_values(body: BaseModel) -> dict[str, Any]:
    """The column values of a create body: every field, defaults included."""
    return body.model_dump()


def update_values(body: BaseModel) -> dict[str, Any]:
    """The column values of a PATCH body: only the fields the client sent."""
    return body.model_dump(exclude_unset=True)


@functools.cache
def page_schema(read: type[BaseModel], pagination: str) -> type[BaseModel]:
    """``{items, total, page, per_page, pages}`` or ``{items, next_cursor}`` of ``read``."""
    if pagination == "cursor":
        return create_model(
            f"{read.__name__}CursorPage",
            items=(list[read], ...),  # type: ignore[valid-type]
            next_cursor=(str | None, ...),
        )
    return create_model(
        f"{read.__name__}Page",
        items=(list[read], ...),  # type: ignore[valid-type]
        total=(int, ...),
        page=(int, ...),
        per_page=(int, ...),
        pages=(int, ...),
    )


class ErrorBody(BaseModel):
    """The body of every sqlops error response (see ``install_exception_handlers``)."""

    detail: str
    field: str | None = None
    fields: list[str] | None = None


# ----------------------------------------------------------------------------- calls


async def list_page(
    repo: Repository[Any],
    resource: Resource,
    where: Sequence[Any],
    filters: Mapping[str, Any],
    order_by: Any,
    paging: PageParams | CursorParams,
) -> BaseModel:
    """One page of rows as the page schema of ``resource.read``."""
    schema = page_schema(resource.read, resource.pagination)
    if isinstance(paging, CursorParams):
        found = await repo.cursor_page(
            *where,
            after=paging.after,
            limit=paging.limit,
            order_by=order_by,
            **resource.read_options,
            **filters,
        )
        items = [to_read(resource.read, obj) for obj in found.items]
        return schema(items=items, next_cursor=found.next_cursor)
    page = await repo.page(
        *where,
        page=paging.page,
        per_page=paging.per_page,
        order_by=order_by,
        **resource.read_options,
        **filters,
    )
    items = [to_read(resource.read, obj) for obj in page.items]
    return schema(
        items=items, total=page.total, page=page.page, per_page=page.per_page, pages=page.pages
    )


def key_of(info: ModelInfo, obj: Any) -> tuple[Any, ...]:
    """The primary key values of ``obj``, in the model's key order."""
    return tuple(getattr(obj, key) for key in info.pk_keys)


def location(collection_path: str, key: Sequence[Any]) -> str:
    """The path of one row under ``collection_path``: ``/authors/1``, ``/members/3/7``."""
    parts = "/".join(quote(str(value), safe="") for value in key)
    return f"{collection_path.rstrip('/')}/{parts}"


# ----------------------------------------------------------------------------- versions


def version_key(model: type[Any]) -> str | None:
    """HOOK(versioned): ``"version"`` for a ``sqlops.models.Versioned`` model, else None."""
    versioned = getattr(models, "Versioned", None)
    if isinstance(versioned, type) and issubclass(model, versioned):
        return "version"
    return None


def etag(version: Any) -> str:
    """The ``ETag`` of a row at ``version``: a strong tag, ``"3"``."""
    return f'"{version}"'


class IfMatchError(ValueError):
    """An ``If-Match`` header that cannot match: ``status`` is 400 (malformed) or 412."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def expected_version(if_match: str | None) -> int | None:
    """The version an ``If-Match`` header asks for; None when absent or ``*``.

    ``If-Match`` compares strongly (RFC 9110 13.1.1), so a weak tag never matches: 412.
    """
    if if_match is None:
        return None
    raw = if_match.strip()
    if raw == "*":
        return None
    if "," in raw:
        raise IfMatchError(400, "If-Match must hold one entity tag")
    if raw.startswith("W/"):
        raise IfMatchError(412, "If-Match needs a strong entity tag (no W/)")
    if len(raw) < 2 or raw[0] != '"' or raw[-1] != '"':
        raise IfMatchError(400, 'If-Match must be a quoted entity tag, like "3"')
    tag = raw[1:-1]
    if not tag.isascii() or not tag.isdigit() or len(tag) > 18:
        raise IfMatchError(412, "the If-Match entity tag matches no version of this resource")
    return int(tag)
