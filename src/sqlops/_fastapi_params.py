"""FastAPI query-string and header dependencies: pages, cursors, ordering, filters, ETags.

Imported by :mod:`sqlops.fastapi` (which checks that FastAPI is installed) and re-exported
from there; use them as ``sqlops.fastapi.page_params()`` and so on.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import Depends, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError

from . import _crud, _httperrors
from ._errors import InvalidFilterError
from ._expressions import Search
from ._params import (
    _MAX_ECHO,
    RESERVED_PARAMS,
    CursorParams,
    PageParams,
    parse_filters,
    parse_ordering,
)

# ----------------------------------------------------------------------------- query strings


MAX_PAGE = 2**31 - 1  # (page - 1) * per_page must fit the database's 64-bit OFFSET


def page_params(per_page: int = 20, max_per_page: int = 100) -> Any:
    """Depend on ``?page=`` (1..2**31-1) and ``?per_page=`` (1..``max_per_page``); 422 otherwise.

    ``?limit=`` or ``?after=`` (cursor pagination's) are a 422 too, rather than ignored.
    """
    default = per_page

    def sqlops_page_params(
        request: Request,
        page: int = Query(1, ge=1, le=MAX_PAGE),
        per_page: int = Query(default, ge=1, le=max_per_page),
    ) -> PageParams:
        _refuse_params(request, ("limit", "after"), "?page= and ?per_page=")
        return PageParams(page=page, per_page=per_page)

    return Depends(sqlops_page_params)


def cursor_params(limit: int = 50, max_limit: int = 200) -> Any:
    """Depend on ``?after=`` (an opaque cursor) and ``?limit=`` (1..``max_limit``)."""
    default = limit

    def sqlops_cursor_params(
        request: Request,
        after: str | None = Query(None, max_length=4096),
        limit: int = Query(default, ge=1, le=max_limit),
    ) -> CursorParams:
        _refuse_params(request, ("page", "per_page"), "?after= and ?limit=")
        return CursorParams(after=after, limit=limit)

    return Depends(sqlops_cursor_params)


def _refuse_params(request: Request, names: Sequence[str], expected: str) -> None:
    """A 422 naming each of ``names`` in the query string: they belong to the other paging."""
    given = [name for name in names if name in request.query_params]
    if given:
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": f"this endpoint pages with {expected}, not ?{name}=",
                    "input": request.query_params[name][:_MAX_ECHO],
                }
                for name in given
            ]
        )


def ordering(allow: Iterable[str], default: str | Sequence[str] | None = None) -> Any:
    """Depend on ``?order_by=name,-created_at``, each name from ``allow`` (else 400).

    Returns a list for the repository's ``order_by=`` (``default`` when absent).
    """
    allowed = frozenset(allow)

    def sqlops_ordering(order_by: str | None = Query(None, max_length=200)) -> Any:
        if order_by is None:
            return default
        return parse_ordering(order_by, allowed)

    return Depends(sqlops_ordering)


def query_filters(
    allow: Iterable[str], *, ignore: Iterable[str] = (), search: Iterable[Any] = ()
) -> Any:
    """Depend on query-string filters, each key from ``allow``: a dict for ``**filters``.

    ``allow`` lists exact filter keys of the repository DSL (``"name"``,
    ``"name__ilike"``, ``"age__gt"``, ``"team__name"``). Any other query parameter is a
    400 (:class:`InvalidFilterError`), except the pagination and ordering ones
    (``page per_page limit after order_by``) and those in ``ignore``. Values stay
    strings: the repository converts them to the column type (a bad one is a 400 too).
    With ``search=["name", "team.name"]``, ``?q=ada lovelace`` becomes
    ``sqlops.Search(q, *search)`` under the key ``"q"``.
    """
    allowed = frozenset(allow)
    fields = tuple(search)
    if fields and SEARCH_PARAM in allowed:
        raise ValueError(f"{SEARCH_PARAM!r} is the search parameter; it cannot be a filter too")
    skipped = RESERVED_PARAMS | frozenset(ignore) | ({SEARCH_PARAM} if fields else set())

    def sqlops_query_filters(request: Request, **_documented: Any) -> dict[str, Any]:
        items = request.query_params.multi_items()
        filters = parse_filters(items, allowed, skipped)
        if fields:
            texts = [v for k, v in items if k == SEARCH_PARAM]
            if len(texts) > 1:
                raise InvalidFilterError(f"{SEARCH_PARAM!r} was given more than once")
            if texts:
                filters[SEARCH_PARAM] = Search(texts[0], *fields)
        return filters

    # Declare the allowed keys as optional query parameters so they show in OpenAPI.
    documented = [
        inspect.Parameter(
            key, inspect.Parameter.KEYWORD_ONLY, default=Query(None), annotation=str | None
        )
        for key in sorted(allowed | ({SEARCH_PARAM} if fields else set()))
        if key.isidentifier()
    ]
    request_param = inspect.Parameter(
        "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
    )
    sqlops_query_filters.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [request_param, *documented], return_annotation=dict[str, Any]
    )
    return Depends(sqlops_query_filters)


SEARCH_PARAM = "q"
# ----------------------------------------------------------------------------- ETag / If-Match


def etag(obj: Any) -> str:
    """The strong ``ETag`` of a versioned object: its version, quoted (``"3"``).

    ``obj`` is a model instance (``Versioned``, or any ``version_id_col``) or a schema
    with a ``version`` field. Strong, because ``If-Match`` compares strongly.
    """
    from ._versioning import version_of

    try:
        version = version_of(obj)
    except TypeError:
        version = getattr(obj, "version", None)
        if version is None:
            raise
    return _quote(version)


_quote = _httperrors.quote_version


def if_match(*, required: bool = True) -> Any:
    """Depend on the ``If-Match`` header: the ``expected_version`` for ``Repository.update``.

    Gives the version in the tag (an ``int``), or None for ``If-Match: *`` or, when
    ``required=False``, no header. A missing header with ``required=True`` is a 428
    (Precondition Required); a tag that cannot be a current version (weak, not a number)
    a 412; more than one tag or a malformed one a 400. A stale version is a 412 from
    :func:`install_exception_handlers` (``StaleVersionError``).
    """

    def sqlops_if_match(
        value: str | None = Header(None, alias="If-Match", max_length=200),
    ) -> int | None:
        if value is None:
            if required:
                raise HTTPException(428, "this request needs an If-Match header (the ETag)")
            return None
        return parse_if_match(value)

    return Depends(sqlops_if_match)


def parse_if_match(value: str) -> int | None:
    """``'"3"'`` -> 3, ``"*"`` -> None; ``HTTPException`` 400 / 412 for other values."""
    try:
        return _crud.expected_version(value)
    except _crud.IfMatchError as exc:
        raise HTTPException(exc.status, exc.detail) from None
