"""``crud_router``: list, get, create, update and delete endpoints for one model, on FastAPI.

Each endpoint below is an ordinary FastAPI route function built from the dependencies
of :mod:`sqlops.fastapi`; to change one, pass your own function for that method
(``methods={"delete": my_delete}``) or copy its builder out of this file and edit it.

No ``from __future__ import annotations`` here: FastAPI reads these annotations at run
time, and the schemas in them are the ones given to :func:`crud_router`.
"""

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from . import _crud
from ._crud import ErrorBody, Resource
from ._database import Database
from ._errors import NotFoundError, StaleVersionError
from ._params import RESERVED_PARAMS, CursorParams, PageParams, parse_filters
from ._repository import Repository

Endpoint = Callable[..., Any]
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "unknown filter, ordering or cursor"},
    404: {"model": ErrorBody, "description": "no such row"},
    409: {"model": ErrorBody, "description": "a constraint or a concurrent change"},
    503: {"model": ErrorBody, "description": "the database is unavailable"},
}


def crud_router(
    model: type[Any],
    *,
    read: type[BaseModel],
    create: type[BaseModel] | None = None,
    update: type[BaseModel] | None = None,
    filters: Iterable[str] = (),
    search: Iterable[str] = (),
    order: Iterable[str] = (),
    pagination: str = "offset",
    prefix: str | None = None,
    tags: list[str] | None = None,
    methods: Iterable[str] | Mapping[str, Endpoint | None] | None = None,
    db: Database | None = None,
    page_size: int = 20,
    max_page_size: int = 100,
) -> APIRouter:
    """An ``APIRouter`` serving ``model``: list, get, create (201), PATCH update, delete (204).

    ``read`` shapes every answer; ``create`` / ``update`` are the request bodies (no
    schema, no endpoint). ``filters`` lists the query-string filter keys of the
    repository DSL, ``order`` the columns ``?order_by=`` may name, ``pagination`` picks
    ``?page=&per_page=`` or ``?after=&limit=``. ``methods`` limits the endpoints
    (``["list", "get"]``) or maps one to your own route function. Errors are answered
    by :func:`sqlops.fastapi.install_exception_handlers`, which the app must install.
    """
    resource = Resource(
        model, read, create, update, tuple(filters), tuple(search), tuple(order), pagination
    )
    chosen = _chosen(methods, resource)
    path = prefix if prefix is not None else f"/{resource.name}"
    router = APIRouter(prefix=path, tags=list(tags) if tags else [model.__name__])
    build = _Builder(resource, db, page_size, max_page_size)
    for name, custom in chosen.items():
        _add(router, build, name, custom, collection="" if path else "/")
    return router


def _chosen(
    methods: Iterable[str] | Mapping[str, Endpoint | None] | None, resource: Resource
) -> dict[str, Endpoint | None]:
    if methods is None:
        skip = {"create"} if resource.create is None else set()
        skip |= {"update"} if resource.update is None else set()
        return {name: None for name in _crud.ENDPOINTS if name not in skip}
    chosen = dict(methods) if isinstance(methods, Mapping) else dict.fromkeys(methods)
    unknown = sorted(set(chosen) - set(_crud.ENDPOINTS))
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {', '.join(_crud.ENDPOINTS)}")
    for name, body in (("create", resource.create), ("update", resource.update)):
        if name in chosen and chosen[name] is None and body is None:
            raise TypeError(f"the {name} endpoint needs a schema: pass {name}=YourSchema")
    return chosen


def _add(
    router: APIRouter, build: "_Builder", name: str, custom: Endpoint | None, collection: str
) -> None:
    resource = build.resource
    item = collection.rstrip("/") + "".join(f"/{{{key}}}" for key in resource.info.pk_keys)
    route = {
        "list": ("GET", collection, 200, _crud.page_schema(resource.read, resource.pagination)),
        "get": ("GET", item, 200, resource.read),
        "create": ("POST", collection, 201, resource.read),
        "update": ("PATCH", item, 200, resource.read),
        "delete": ("DELETE", item, 204, None),
    }[name]
    method, path, status, response_model = route
    endpoint = custom or getattr(build, name)()
    extra: dict[str, Any] = {"response_class": Response} if status == 204 else {}
    if custom is None:  # yours answers with the model its return annotation names
        extra["response_model"] = response_model
    router.add_api_route(
        path,
        endpoint,
        methods=[method],
        status_code=status,
        name=f"{name}_{resource.name}",
        responses=dict(_ERRORS),
        **extra,
    )


class _Builder:
    """Builds each endpoint of one resource from ``sqlops.fastapi``'s dependencies."""

    def __init__(self, resource: Resource, db: Database | None, size: int, max_size: int) -> None:
        from . import fastapi as sf

        self.resource = resource
        # Reads use a standalone repository: one read-only statement each, which takes
        # sqlops' fast read path (an injected session takes the ORM's).
        self.reading = sf.database(db)
        self.writing = sf.transaction(db)
        self.key = Depends(_key_dependency(resource))
        self.query = Depends(_query_dependency(resource))
        self.order = sf.ordering(allow=resource.order)
        if resource.pagination == "cursor":
            self.paging = sf.cursor_params(limit=size, max_limit=max_size)
        else:
            self.paging = sf.page_params(per_page=size, max_per_page=max_size)
        self.version = _crud.version_key(resource.model)

    def list(self) -> Endpoint:
        resource = self.resource

        async def list_rows(
            db: Annotated[Database, self.reading],
            query: Annotated[tuple[list[Any], dict[str, Any]], self.query],
            order_by: Annotated[Any, self.order],
            paging: Annotated[PageParams | CursorParams, self.paging],
        ) -> Any:
            where, filters = query
            repo = Repository(resource.model, db)
            return await _crud.list_page(repo, resource, where, filters, order_by, paging)

        return list_rows

    def get(self) -> Endpoint:
        resource, version = self.resource, self.version

        async def get_row(
            key: Annotated[tuple[Any, ...], self.key],
            db: Annotated[Database, self.reading],
            response: Response,
        ) -> Any:
            obj = await Repository(resource.model, db).get_one(key, **resource.read_options)
            if version is not None:  # HOOK(versioned)
                response.headers["ETag"] = _crud.etag(getattr(obj, version))
            return _crud.to_read(resource.read, obj)

        return get_row

    def create(self) -> Endpoint:
        resource = self.resource

        async def create_row(
            body: Any,
            session: Annotated[AsyncSession, self.writing],
            request: Request,
            response: Response,
        ) -> Any:
            obj = await Repository(resource.model, session).create(**_crud.create_values(body))
            key = _crud.key_of(resource.info, obj)
            response.headers["Location"] = _crud.location(request.url.path, key)
            return _crud.to_read(resource.read, obj)

        create_row.__annotations__["body"] = resource.create
        return create_row

    def update(self) -> Endpoint:
        resource, version = self.resource, self.version

        async def update_row(
            key: Annotated[tuple[Any, ...], self.key],
            body: Any,
            session: Annotated[AsyncSession, self.writing],
            response: Response,
            if_match: Annotated[str | None, Header(max_length=64)] = None,
        ) -> Any:
            values = _crud.update_values(body)
            repo = Repository(resource.model, session)
            expected = _expected(if_match) if version else None
            if expected is not None:  # HOOK(versioned): needs update(expected_version=)
                values["expected_version"] = expected
            obj = await repo.update(key, **values)
            if version is not None:
                response.headers["ETag"] = _crud.etag(getattr(obj, version))
            return _crud.to_read(resource.read, obj)

        update_row.__annotations__["body"] = resource.update
        if version is None:  # no If-Match header to document
            _drop_parameter(update_row, "if_match")
        return update_row

    def delete(self) -> Endpoint:
        resource, version = self.resource, self.version

        async def delete_row(
            key: Annotated[tuple[Any, ...], self.key],
            session: Annotated[AsyncSession, self.writing],
            if_match: Annotated[str | None, Header(max_length=64)] = None,
        ) -> Response:
            repo = Repository(resource.model, session)
            expected = _expected(if_match) if version else None
            if version is not None and expected is not None:
                await _check_version(repo, key, version, expected)
            if not await repo.delete(key):
                raise NotFoundError(resource.model, key)
            return Response(status_code=204)

        if version is None:  # no If-Match header to document
            _drop_parameter(delete_row, "if_match")
        return delete_row


async def _check_version(repo: Repository[Any], key: Any, version: str, expected: int) -> None:
    """412 (StaleVersionError) unless row ``key`` is still at version ``expected``.

    The row is locked until the transaction ends (FOR UPDATE; SQLite's writer lock), so
    nobody can change it between this check and the DELETE that follows.
    """
    obj = await repo.get(key, for_update=True)
    if obj is None:
        raise NotFoundError(repo.model, key)
    actual = getattr(obj, version)
    if actual != expected:
        raise StaleVersionError(model=repo.model, key=key, expected=expected, actual=actual)


def _drop_parameter(fn: Endpoint, name: str) -> None:
    signature = inspect.signature(fn)
    kept = [p for p in signature.parameters.values() if p.name != name]
    fn.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- dependencies


def _key_dependency(resource: Resource) -> Endpoint:
    """``/{id}`` (or ``/{a}/{b}`` for a composite key), typed by the key columns."""
    info = resource.info

    def row_key(**given: Any) -> tuple[Any, ...]:
        return tuple(given[f"key_{i}"] for i in range(len(info.pk_keys)))

    parameters = [
        inspect.Parameter(
            f"key_{i}",
            inspect.Parameter.KEYWORD_ONLY,
            default=Path(alias=key),
            annotation=kind if kind in (int, str) or _is_uuid(kind) else str,
        )
        for i, (key, kind) in enumerate(zip(info.pk_keys, info.pk_types, strict=True))
    ]
    row_key.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return row_key


def _is_uuid(kind: Any) -> bool:
    import uuid

    return kind is uuid.UUID


def _query_dependency(resource: Resource) -> Endpoint:
    """The allowlisted filters (typed, documented) and ``?q=``; any other key is a 400."""
    keys = sorted(resource.filters)
    allowed = frozenset(keys)
    ignore = RESERVED_PARAMS | ({_crud.SEARCH_PARAM} if resource.search else set())

    def list_query(request: Request, **given: Any) -> tuple[list[Any], dict[str, Any]]:
        parse_filters(request.query_params.multi_items(), allowed, ignore)  # 400 on the unknown
        values = _crud.clean_filters({key: given[f"filter_{i}"] for i, key in enumerate(keys)})
        return _crud.where_for(resource, given.get("search")), values

    parameters = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)
    ]
    for i, key in enumerate(keys):
        annotation = _crud.filter_annotation(resource.info, key)
        parameters.append(_query_parameter(f"filter_{i}", key, annotation))
    if resource.search:
        parameters.append(_query_parameter("search", _crud.SEARCH_PARAM, str))
    list_query.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return list_query


def _query_parameter(name: str, alias: str, annotation: Any) -> inspect.Parameter:
    query = Query(None, alias=alias, max_length=200 if annotation is str else None)
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=query, annotation=annotation | None
    )


def _expected(if_match: str | None) -> int | None:
    """The ``expected_version`` of an ``If-Match`` header; 400 / 412 as ``parse_if_match``."""
    try:
        return _crud.expected_version(if_match)
    except _crud.IfMatchError as exc:
        raise HTTPException(exc.status, exc.detail) from None
