"""Traced twins of Repository and Database classes: spans around their public coroutines.

:mod:`sqlops._telemetry` switches an instrumented repository or Database to a subclass
made here once per class; each public coroutine (and ``stream``) opens one span through
the :class:`~sqlops._telemetry.Telemetry` of its Database, and nested calls inside it
(``page()`` counting, a standalone call's own transaction) add none.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._telemetry import Telemetry

# What the span being run is inside of: nothing, a repository call (whose own
# transactions and nested calls are part of it), or run() (whose attempts are).
OUTSIDE, IN_CALL, IN_RUN = 0, 1, 2
scope: ContextVar[int] = ContextVar("sqlops_telemetry_inside", default=OUTSIDE)

_OPERATIONS = {
    "create": "INSERT",
    "create_many": "INSERT",
    "upsert": "INSERT",
    "upsert_many": "INSERT",
    "get_or_create": "INSERT",
    "update": "UPDATE",
    "update_where": "UPDATE",
    "update_many": "UPDATE",
    "increment": "UPDATE",
    "soft_delete": "UPDATE",
    "restore": "UPDATE",
    "delete": "DELETE",
    "delete_where": "DELETE",
}


def operation_name(method: str) -> str:
    """The ``db.operation.name`` of a repository method: the SQL verb it mostly runs."""
    found = _OPERATIONS.get(method)
    if found is not None:
        return found
    for prefix, verb in (("update", "UPDATE"), ("delete", "DELETE"), ("create", "INSERT")):
        if method.startswith(prefix):
            return verb
    return "SELECT"


def filter_keys(fn: Callable[..., Any], kwargs: dict[str, Any]) -> tuple[str, ...]:
    """The keyword-filter names of a call (keys of ``**filters`` / ``**lookup``)."""
    named = _named_parameters(fn)
    if named is None or not kwargs:
        return ()
    return tuple(sorted(k for k in kwargs if k not in named))


@functools.cache
def _named_parameters(fn: Callable[..., Any]) -> frozenset[str] | None:
    """The named parameters of ``fn`` when its ``**kwargs`` are filters, else None."""
    parameters = inspect.signature(fn).parameters.values()
    var = [p.name for p in parameters if p.kind is inspect.Parameter.VAR_KEYWORD]
    if not var or var[0] not in ("filters", "lookup"):
        return None
    return frozenset(p.name for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD)


# ---------------------------------------------------------------------- traced classes

_traced: dict[tuple[type[Any], Any], type[Any]] = {}


def traced_class(cls: type[Any], make: Callable[[type[Any]], dict[str, Any]]) -> type[Any]:
    """The traced twin of ``cls`` (made once): ``cls`` with ``make(cls)``'s methods."""
    if getattr(cls, "_sqlops_traced", False):
        return cls
    found = _traced.get((cls, make))
    if found is None:
        namespace = {
            **make(cls),
            "_sqlops_traced": True,
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
        }
        found = _traced[(cls, make)] = type(cls.__name__, (cls,), namespace)
    return found


def trace_repository_methods(cls: type[Any]) -> dict[str, Any]:
    """Every public coroutine (and the stream) that sqlops defines on ``cls``."""
    methods: dict[str, Any] = {}
    for name in dir(cls):
        fn = getattr(cls, name, None)
        if name.startswith("_") or not getattr(fn, "__module__", "").startswith("sqlops."):
            continue
        if inspect.iscoroutinefunction(fn):
            methods[name] = _traced_call(name, fn)
        elif inspect.isasyncgenfunction(fn):
            methods[name] = _traced_stream(name, fn)
    return methods


def _traced_call(name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
        if scope.get() == IN_CALL:  # page() counting, get_one() getting: one span
            return await fn(self, *args, **kwargs)
        return await self._sqlops_telemetry.call(self, name, fn, args, kwargs)

    return traced


def _traced_stream(name: str, fn: Callable[..., AsyncGenerator[Any, None]]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def traced(self: Any, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        if scope.get() == IN_CALL:
            async for item in fn(self, *args, **kwargs):
                yield item
            return
        telemetry: Telemetry = self._sqlops_telemetry
        operation, table = operation_name(name), self.info.table.fullname
        attributes = telemetry.attributes(table, name, operation)
        keys = filter_keys(fn, kwargs)
        attributes = {**attributes, "sqlops.filters": keys} if keys else attributes
        rows = fn(self, *args, **kwargs)
        # The span is current only while the stream itself runs, never while the
        # caller's loop body does (it would adopt the caller's spans).
        with telemetry.span(f"{operation} {table}", attributes, current=False) as span:
            try:
                while True:
                    with _current(span):
                        token = scope.set(IN_CALL)
                        try:
                            item = await rows.__anext__()
                        except StopAsyncIteration:
                            break
                        finally:
                            scope.reset(token)
                    yield item
            finally:
                await rows.aclose()

    return traced


@contextmanager
def _current(span: Any) -> Iterator[None]:
    if span is None:
        yield
        return
    from opentelemetry import context, trace

    token = context.attach(trace.set_span_in_context(span))
    try:
        yield
    finally:
        context.detach(token)


def trace_database_methods(cls: type[Any]) -> dict[str, Any]:
    parent_transaction = cls.transaction

    @asynccontextmanager
    async def transaction(
        self: Any, isolation: str | None = None, readonly: bool = False
    ) -> AsyncIterator[Any]:
        """Yield a session in a transaction (a span: ``TRANSACTION {db.namespace}``)."""
        inside = scope.get()
        if inside == IN_CALL:  # a standalone repository call's own transaction
            async with parent_transaction(self, isolation, readonly) as session:
                yield session
            return
        telemetry: Telemetry = self._telemetry
        token = scope.set(OUTSIDE)  # the block's own calls are spans of their own
        try:
            if inside == IN_RUN:  # one attempt of run(): the run's span covers it
                async with parent_transaction(self, isolation, readonly) as session:
                    yield session
                return
            attributes = telemetry.transaction_attributes("transaction")
            if readonly:
                attributes = {**attributes, "sqlops.readonly": True}
            with telemetry.span(f"TRANSACTION {telemetry.namespace}", attributes):
                async with parent_transaction(self, isolation, readonly) as session:
                    yield session
        finally:
            scope.reset(token)

    transaction.__doc__ = parent_transaction.__doc__
    return {"transaction": transaction}
