"""The statements of a :class:`~sqlops._query.ReadQuery`: a ``Select``, or a template.

:func:`select_for` builds the ``Select`` a query runs on the ORM session (``plan`` None:
``SELECT <model>``) or on a connection (a fast plan: ``SELECT <its columns>``).
:func:`template_for` describes the same query as a template shape (see
:mod:`sqlops._templates`): a hashable key, the bound values and a function that builds
the statement over bind parameters the first time the shape is seen.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, func, select

from . import _filters, _pagination, _templates
from ._fastread import ReadPlan
from ._query import ReadQuery

if TYPE_CHECKING:
    from ._repobase import RepositoryBase

TOTAL = "sqlops_total"


def _total() -> Any:
    return func.count().over().label(TOTAL)


def select_for(repo: RepositoryBase[Any], q: ReadQuery, plan: ReadPlan | None) -> Any:
    """The statement of ``q``: over the model (``plan`` None) or over ``plan``'s columns."""
    if q.kind in ("count", "exists"):
        return _scalar_select(repo, q)
    options = repo._schema_options(q.schema, [k.key for k in q.keys])
    # get() looks the key up as session.get() does and checks deleted_at afterwards
    with_deleted = q.with_deleted or q.kind == "get"
    stmt: Select[Any] = repo._statement(
        plan, q.where, None, q.load, with_deleted, dict(q.filters), options
    )
    if q.kind == "get":
        columns = repo.info.pk_attrs if plan is None else plan.pk_columns
        return stmt.where(*(c == v for c, v in zip(columns, q.identity, strict=True)))
    if q.kind == "page":
        stmt = stmt.add_columns(_total())
    if q.kind == "cursor":
        if q.after is not None:
            stmt = stmt.where(_pagination.keyset_after(q.keys, q.after))
        stmt = stmt.order_by(*_pagination.keyset_order(q.keys))
    elif q.kind != "one":
        stmt = stmt.order_by(*_filters.order_clauses(repo.info, q.order_by))
    if q.limit is not None:
        stmt = stmt.limit(q.limit)
    if q.offset is not None:
        stmt = stmt.offset(q.offset)
    return stmt.with_for_update() if q.for_update else stmt


def _scalar_select(repo: RepositoryBase[Any], q: ReadQuery) -> Any:
    if q.kind == "exists":
        stmt = select(*repo.info.pk_attrs).where(*repo._where(q.where, q.filters))
        return repo._soft(stmt, q.with_deleted).limit(1)
    # the model, not its table: joined inheritance joins its tables, single-table
    # inheritance adds its discriminator
    source = repo.model if repo.info.inherits else repo.info.table
    stmt = select(func.count()).select_from(source).where(*repo._where(q.where, q.filters))
    return repo._soft(stmt, q.with_deleted)


@dataclass
class TemplateSpec:
    """A statement as a template: its shape key, bound values, result types and builder."""

    key: Hashable
    query: _templates.Query
    result_types: Sequence[Any]
    make: Callable[[list[Any]], Any]
    returns_rows: bool = True
    #: a write's bind names, one per value (see :func:`sqlops._templates.fetch`)
    names: tuple[str, ...] = ()


def template_for(repo: RepositoryBase[Any], q: ReadQuery, plan: ReadPlan | None) -> TemplateSpec:
    """``q`` as a template shape (the caller checked it has no hand-written criteria)."""
    info = repo.info
    if q.kind == "get":
        assert plan is not None
        query = _templates.Query([])
        pairs = zip(plan.pk_columns, q.identity, strict=True)
        positions = [query.add([v], c.type)[0] for c, v in pairs]

        def make_get(params: list[Any]) -> Any:
            pairs = zip(plan.pk_columns, positions, strict=True)
            return plan.select().where(*(c == params[p] for c, p in pairs))

        return TemplateSpec(("get", repo.model), query, plan.types, make_get)
    query = _templates.Query.from_filters(info, q.filters)
    if q.kind == "count":

        def make_count(params: list[Any]) -> Any:
            stmt = select(func.count()).select_from(info.table)
            return repo._soft(stmt.where(*query.conditions(params)), q.with_deleted)

        count_key = ("count", repo.model, query.shape, q.with_deleted)
        return TemplateSpec(count_key, query, (_templates.INT,), make_count)
    assert plan is not None
    if q.kind == "cursor":
        return _cursor_template(repo, q, plan, query)
    lim = query.add([q.limit], _templates.INT)[0] if q.limit is not None else None
    off = query.add([q.offset], _templates.INT)[0] if q.offset is not None else None
    page = q.kind == "page"

    def make(params: list[Any]) -> Any:
        stmt = plan.select().add_columns(_total()) if page else plan.select()
        stmt = repo._soft(stmt.where(*query.conditions(params)), q.with_deleted)
        stmt = stmt.order_by(*_filters.order_clauses(info, q.order_by)) if q.kind != "one" else stmt
        stmt = stmt.limit(params[lim]) if lim is not None else stmt
        return stmt.offset(params[off]) if off is not None else stmt

    order = order_key(info, q.order_by) if q.kind != "one" else ()
    key = (q.kind, repo.model, query.shape, order, q.with_deleted, lim is None, off is None)
    types = (*plan.types, _templates.INT) if page else plan.types
    return TemplateSpec(key, query, types, make)


def _cursor_template(
    repo: RepositoryBase[Any], q: ReadQuery, plan: ReadPlan, query: _templates.Query
) -> TemplateSpec:
    positions: list[int | None] = []
    for k, v in zip(q.keys, q.after or (), strict=False):
        positions.append(None if v is None else query.add([v], k.attr.type)[0])
    assert q.limit is not None
    lim = query.add([q.limit], _templates.INT)[0]

    def make(params: list[Any]) -> Any:
        stmt = repo._soft(plan.select().where(*query.conditions(params)), q.with_deleted)
        if q.after is not None:
            bound = [None if p is None else params[p] for p in positions]
            stmt = stmt.where(_pagination.keyset_after(q.keys, bound))
        return stmt.order_by(*_pagination.keyset_order(q.keys)).limit(params[lim])

    spec = tuple((k.key, k.descending) for k in q.keys)
    nulls = None if q.after is None else tuple(v is None for v in q.after)
    key = ("cursor", repo.model, query.shape, spec, nulls, q.with_deleted)
    return TemplateSpec(key, query, plan.types, make)


def order_key(info: Any, order_by: Any) -> tuple[tuple[str, bool], ...]:
    """A hashable spelling of ``order_by`` (validated: it may come from a query string)."""
    return tuple((k.key, k.descending) for k in _filters.sort_keys(info, order_by))
