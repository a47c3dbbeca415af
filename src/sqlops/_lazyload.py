"""The lazy-load guard: name the relationship and the fix instead of ``MissingGreenlet``.

In async code an attribute access cannot await, so an implicit lazy load either raises
``MissingGreenlet`` (session open) or ``DetachedInstanceError`` (session closed). Both
say nothing about which relationship or what to do. The guard raises
:class:`LazyLoadError` naming ``Model.attribute`` and ``load=[...]`` instead. The raised
class also derives from the error SQLAlchemy would have raised, so existing ``except``
clauses keep working.

Explicit async loads (``await obj.awaitable_attrs.x``, ``session.refresh``) and loads
inside ``run_sync`` run in a greenlet and are allowed.
"""

from __future__ import annotations

import logging
from typing import Any

import greenlet
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import ORMExecuteState, strategies
from sqlalchemy.orm import exc as orm_exc

from ._errors import LazyLoadError
from ._runtime import explicit
from ._session import SqlopsSession

logger = logging.getLogger("sqlops")

INFO_KEY = "sqlops.lazy_loads"
MODES = ("raise", "warn", "allow")


class _MissingGreenletLazyLoadError(LazyLoadError, sa_exc.MissingGreenlet):
    """Raised where SQLAlchemy would raise ``MissingGreenlet``."""

    code = None  # type: ignore[assignment]


class _DetachedLazyLoadError(LazyLoadError, orm_exc.DetachedInstanceError):
    """Raised where SQLAlchemy would raise ``DetachedInstanceError``."""

    code = None  # type: ignore[assignment]


def in_greenlet() -> bool:
    """True inside SQLAlchemy's ``greenlet_spawn`` (IO may be awaited), or inside the sync
    twin's explicit session calls (:func:`sqlops._runtime.call_explicit`, its stand-in)."""
    return explicit() or bool(
        getattr(greenlet.getcurrent(), "__sqlalchemy_greenlet_provider__", False)
    )


def lazy_message(owner: str, key: str, *, closed: bool) -> str:
    """Explain an unloaded relationship and how to load it."""
    when = "before its session closed" if closed else ""
    return (
        f"{owner}.{key} was not loaded{(' ' + when) if when else ''}; pass load=['{key}'] to "
        f"the repository call (or .options(selectinload({owner}.{key})) to select()), "
        f"or await obj.awaitable_attrs.{key} explicitly"
    )


def _column_message(owner: str, keys: list[str]) -> str:
    names = ", ".join(f"{owner}.{k}" for k in keys) or f"an attribute of {owner}"
    return (
        f"{names} is expired or deferred and would be loaded implicitly; "
        f"await session.refresh(obj) first (objects expire after rollback() or expire())"
    )


def _guard_execute(state: ORMExecuteState) -> None:
    """``do_orm_execute`` hook: stop an implicit load before it reaches the driver."""
    if in_greenlet() or not (state.is_relationship_load or state.is_column_load):
        return
    mode = state.session.info.get(INFO_KEY, "allow")
    if mode == "allow":
        return
    message = _describe(state)
    if mode == "warn":
        logger.warning("implicit lazy load: %s", message)
        return
    raise _MissingGreenletLazyLoadError(message)


def _describe(state: ORMExecuteState) -> str:
    parent = state.lazy_loaded_from
    owner = parent.class_.__name__ if parent is not None else "?"
    path = state.loader_strategy_path
    prop = path.path[-1] if path is not None and path.path else None
    key = getattr(prop, "key", None)
    if state.is_relationship_load and key:
        return lazy_message(owner, key, closed=False)
    if parent is None:
        mapper = state.bind_mapper
        owner = mapper.class_.__name__ if mapper is not None else "?"
    expired = sorted(parent.expired_attributes) if parent is not None else []
    return _column_message(owner, expired)


_installed = False


def install() -> None:
    """Install the guard once per process (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    event.listen(SqlopsSession, "do_orm_execute", _guard_execute)
    # SQLAlchemy 2.0 calls it LazyLoader, 2.1 _LazyLoader.
    loader_class: Any = getattr(strategies, "LazyLoader", None) or strategies._LazyLoader
    original = loader_class._load_for_state

    def _load_for_state(self: Any, state: Any, passive: Any, *args: Any, **kw: Any) -> Any:
        try:
            return original(self, state, passive, *args, **kw)
        except orm_exc.DetachedInstanceError as exc:
            if type(exc) is _DetachedLazyLoadError:
                raise
            owner = state.class_.__name__
            raise _DetachedLazyLoadError(lazy_message(owner, self.key, closed=True)) from exc

    loader_class._load_for_state = _load_for_state
