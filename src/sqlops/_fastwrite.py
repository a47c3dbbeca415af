"""``update(pk, **values)`` without the unit of work: one UPDATE, the session left as a flush would.

The ORM route is ``session.get()`` + ``setattr`` + ``flush()``: an identity-map lookup,
then the unit of work sorting one object to send one UPDATE — most of a request
transaction's client time. Here sqlops sends that UPDATE itself, on the session's own
connection (a driver template on asyncpg, aiosqlite and the sync drivers, else Core; see
:func:`sqlops._executor.write`), and leaves the session exactly as the flush would have:

* an object the session holds gets the new values as its committed state (so nothing is
  flushed again), and the columns an ``onupdate`` changed;
* a row it does not hold comes back with ``RETURNING`` as a persistent instance;
* values equal to the held object's send nothing, as the ORM flushes nothing; so that an
  update which changes nothing bumps no ``onupdate`` column, a model that has one reads
  a row it does not hold first (on the fast read route);
* a missing or soft-deleted row is :class:`NotFoundError`; a held row deleted since it
  was read is :class:`StaleVersionError` (the flush's "0 rows matched");
* a database error is remembered with the transaction, as a failed flush is
  (:mod:`sqlops._failures`).

Everything else keeps the ORM route: versioned models (their own single statement),
inheritance, a primary-key change, a session with unflushed changes or with flush, ORM
execution or load hooks of the application, mapper update events, validators and
attribute ``set`` listeners, and models the read plan cannot build.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import attributes

from . import _attach, _executor, _failures, _fastread, _internals, _sendable, _templates
from ._errors import NotFoundError, SqlopsError, StaleVersionError
from ._fastread import ReadPlan
from ._modelinfo import ModelInfo
from ._query import ReadQuery
from ._statements import TemplateSpec

if TYPE_CHECKING:
    from ._repobase import RepositoryBase

NOT_FAST = object()  # the ORM route must do this update


async def update(
    repo: RepositoryBase[Any], session: AsyncSession, pk: Any, values: dict[str, Any]
) -> Any:
    """The object of row ``pk`` with ``values`` written, or :data:`NOT_FAST`."""
    plan = _plan(repo, session, values)
    if plan is None:
        return NOT_FAST
    info, identity = repo.info, repo._pk_values(pk)
    obj = _attach.held(session, plan, identity)
    if obj is _attach.EXPIRED:
        return NOT_FAST
    dialect = session.sync_session.get_bind(info.mapper).dialect
    view = repo._on(session)
    if obj is _attach.ABSENT and (_updated_by_default(info) or not dialect.update_returning):
        obj = await _executor.get(view, ReadQuery("get", identity=identity))
        if obj is None:
            raise NotFoundError(repo.model, pk)
    if obj is not _attach.ABSENT:
        if repo._is_deleted(obj):
            raise NotFoundError(repo.model, pk)
        values = _changed(info, obj, values)
        if not values:
            return obj
    written = {**values, **_defaults(info, values)}
    spec = _spec(repo, plan, identity, written, returning=dialect.update_returning)
    before = _failures.innermost(session)
    try:
        result = await _executor.write(view, spec)
    except SqlopsError as exc:
        _failures.note(session, exc, before)
        raise
    if not result:  # no row, or a RETURNING of none
        if obj is _attach.ABSENT:
            raise NotFoundError(repo.model, pk)
        raise StaleVersionError(
            f"{info.name} {pk!r} was deleted by someone else since it was read",
            model=repo.model,
            key=pk,
        )
    row = result[0] if isinstance(result, list) else None
    if obj is _attach.ABSENT:
        assert row is not None
        obj = _attach.attach_all(session, plan, [row], refresh=True)[0]
    _settle(session, plan, obj, written, row)
    return obj


def _plan(repo: RepositoryBase[Any], session: AsyncSession, values: dict[str, Any]) -> Any:
    """The read plan, when this update may take the fast route in ``session``."""
    if _executor.forced_route == "orm" or not values:
        return None
    info = repo.info
    if info.inherits or info.mapper.version_id_col is not None:
        return None
    if any(key in info.pk_keys for key in values):
        return None
    if any(_sendable.is_sql(type(value)) for value in values.values()):
        return None  # ``age=User.age + 1``: the unit of work runs it and reloads the value
    plan = _fastread.plan_for(info)
    if not plan.eligible or not _attach.session_ready(session):
        return None
    mapper, dispatch = info.mapper, session.sync_session.dispatch
    if dispatch.before_flush or dispatch.after_flush or dispatch.after_flush_postexec:
        return None
    if mapper.dispatch.before_update or mapper.dispatch.after_update:
        return None
    if any(key in mapper.validators or info.columns[key].dispatch.set for key in values):
        return None
    return plan


def _changed(info: ModelInfo, obj: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The values that differ from what ``obj`` holds, compared as the flush compares."""
    held = attributes.instance_dict(obj)
    out = {}
    for key, value in values.items():
        if key not in held or not info.column(key).type.compare_values(held[key], value):
            out[key] = value
    return out


_onupdates: dict[type[Any], tuple[str, ...]] = {}


def _onupdate_keys(info: ModelInfo) -> tuple[str, ...]:
    """The attributes an UPDATE of the model changes unasked (``onupdate``), found once."""
    found = _onupdates.get(info.model)
    if found is None:
        found = _onupdates[info.model] = tuple(
            key for key in info.columns if _updates_itself(info.column(key), info.table)
        )
    return found


_by_default: dict[type[Any], bool] = {}


def _updated_by_default(info: ModelInfo) -> bool:
    """Whether an UPDATE changes a column it was not given (mapped to the model or not)."""
    found = _by_default.get(info.model)
    if found is None:
        columns = info.table.columns
        found = _by_default[info.model] = any(_updates_itself(c, info.table) for c in columns)
    return found


def _updates_itself(column: Any, table: Any) -> bool:
    has = column.onupdate is not None or column.server_onupdate is not None
    return has and column.table is table


def _defaults(info: ModelInfo, values: dict[str, Any]) -> dict[str, Any]:
    """Values of the plain Python ``onupdate`` defaults of the columns not given."""
    out = {}
    for key in _onupdate_keys(info):
        default: Any = info.column(key).onupdate
        if key in values or default is None:
            continue
        if default.is_scalar:
            out[key] = default.arg
        elif default.is_callable:
            call = _internals.plain_onupdate(default)
            if call is not None:
                out[key] = call()
    return out


def _spec(
    repo: RepositoryBase[Any],
    plan: ReadPlan,
    identity: Sequence[Any],
    values: dict[str, Any],
    *,
    returning: bool,
) -> TemplateSpec:
    """``UPDATE … SET values WHERE pk [AND not deleted] [RETURNING <columns>]`` as a template."""
    info = repo.info
    query = _templates.Query([])
    where = [query.add([v], c.type)[0] for c, v in zip(plan.pk_columns, identity, strict=True)]
    keys = tuple(values)
    sets = [query.add([values[k]], info.column(k).type)[0] for k in keys]

    def make(params: list[Any]) -> Any:
        pairs = zip(plan.pk_columns, where, strict=True)
        stmt = sql_update(info.table).where(*(c == params[p] for c, p in pairs))
        if info.soft_delete is not None:
            stmt = stmt.where(info.column(info.soft_delete.key).is_(None))
        stmt = stmt.values({info.column(k): params[p] for k, p in zip(keys, sets, strict=True)})
        return stmt.returning(*plan.columns) if returning else stmt

    key = ("update", repo.model, keys, returning)
    names = (*(f"{c.key}_1" for c in plan.pk_columns), *(info.column(k).key for k in keys))
    return TemplateSpec(key, query, plan.types, make, returns_rows=returning, names=names)


def _settle(
    session: AsyncSession,
    plan: ReadPlan,
    obj: Any,
    written: dict[str, Any],
    row: Sequence[Any] | None,
) -> None:
    """Make ``obj``'s committed state what the row now holds, as a flush leaves it.

    The written values are kept as given (the flush keeps them so too); the other columns
    an ``onupdate`` changed come from the ``RETURNING`` row, or, without one, are expired
    to be loaded again.
    """
    for key, value in written.items():
        attributes.set_committed_value(obj, key, value)
    changed = [k for k in _onupdate_keys(plan.info) if k not in written]
    if not changed:
        return
    if row is None:
        session.sync_session.expire(obj, changed)
        return
    for key in changed:
        attributes.set_committed_value(obj, key, row[plan.keys.index(key)])
