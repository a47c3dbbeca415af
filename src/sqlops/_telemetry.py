"""OpenTelemetry spans and metrics for repository calls and transactions (extra ``[otel]``).

Off — no provider given and none set globally — nothing here is imported and nothing
runs per call: a :class:`Database` then has ``_telemetry = None``, and the only cost is
that one attribute check when a ``Repository`` is made. On, the repository and the
Database are switched to subclasses (made once per class) whose public coroutines open
a span named ``"{db.operation.name} {db.collection.name}"`` and record
``db.client.operation.duration``.

What is recorded are names — of the system, database, table, operation, method and
filter keys — and never a value: no parameter, filter value, row value, error message
(it may quote a row) or password reaches a span, a metric or a log.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from ._errors import TransactionConflictError
from ._metrics import Meters, namespace, pool_name, time_pool, version
from ._traced import (
    IN_CALL,
    IN_RUN,
    filter_keys,
    operation_name,
    scope,
    trace_database_methods,
    trace_repository_methods,
    traced_class,
)

if TYPE_CHECKING:
    from ._database import Database

T = TypeVar("T")
INFO_KEY = "sqlops_telemetry"  # session.info: the Telemetry of the Database that made it
_NAME = "sqlops"


# ---------------------------------------------------------------------- set-up


def setup(db: Database, tracer_provider: Any, meter_provider: Any) -> Telemetry | None:
    """The Telemetry of ``db``, or None when OpenTelemetry is off (then it costs nothing).

    A provider not given falls back to the global one, if the application has set one
    before creating the Database. Without OpenTelemetry installed, a given provider is
    an error naming the extra; no provider at all is simply "off".
    """
    given = tracer_provider is not None or meter_provider is not None
    imported = "opentelemetry.trace" in sys.modules or "opentelemetry.metrics" in sys.modules
    if not given and not imported:
        return None  # nothing imported OpenTelemetry, so nobody set a global provider
    try:
        from opentelemetry import metrics, trace
    except ImportError:
        if given:
            raise ImportError(
                "tracer_provider= / meter_provider= need OpenTelemetry: pip install 'sqlops[otel]'"
            ) from None
        return None
    tracer_provider = tracer_provider or _global(trace.get_tracer_provider())
    meter_provider = meter_provider or _global(metrics.get_meter_provider())
    if tracer_provider is None and meter_provider is None:
        return None
    return Telemetry(db, tracer_provider, meter_provider)


def _global(provider: Any) -> Any:
    """``provider`` unless it is OpenTelemetry's placeholder (proxy or no-op)."""
    kind = type(provider).__name__
    return None if kind.startswith(("Proxy", "_Proxy", "NoOp", "_NoOp")) else provider


class Telemetry:
    """The tracer and instruments of one Database, and the attributes it reports."""

    def __init__(self, db: Database, tracer_provider: Any, meter_provider: Any) -> None:
        from opentelemetry import context, trace

        self._kind = trace.SpanKind.CLIENT
        self._error = trace.Status(trace.StatusCode.ERROR)
        self._in_context, self._attach, self._detach = (
            trace.set_span_in_context,
            context.attach,
            context.detach,
        )
        self.family = db.dialect
        self.namespace = namespace(db)
        self.tracer = None
        if tracer_provider is not None:
            self.tracer = tracer_provider.get_tracer(_NAME, version())
        self.duration: Any = None
        self._meters: Meters | None = None
        if meter_provider is not None:
            self._meters = Meters.of(meter_provider)
            self._meters.watch(db)
            self.duration = self._meters.duration
        self._attributes: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._engine = db.engine

    @property
    def system(self) -> str:
        """``db.system.name``: MariaDB is told apart from MySQL once connected."""
        if self.family == "mysql" and getattr(self._engine.dialect, "is_mariadb", False):
            return "mariadb"
        return self.family

    # ------------------------------------------------------------------ wiring

    def instrument_repository(self, repo: Any) -> None:
        """Make ``repo`` report its calls (its class becomes the traced twin)."""
        repo.__class__ = traced_class(type(repo), trace_repository_methods)
        repo._sqlops_telemetry = self

    def instrument_database(self, db: Database, *, pools: bool = True) -> None:
        """Make ``db`` report its transactions and (``pools``) time its pools' waits.

        A Database that shares another's engine (the test kit's ``BoundDatabase``) passes
        ``pools=False``: the engine's waits are timed once already.
        """
        db.__class__ = traced_class(type(db), trace_database_methods)
        if self._meters is not None and pools:
            for engine in (db.engine, *db.replicas):
                time_pool(engine, self._meters.wait_time, pool_name(engine))

    # ------------------------------------------------------------------ spans

    def attributes(self, table: str, method: str, operation: str) -> dict[str, Any]:
        key = (table, method, operation, self.system)
        found = self._attributes.get(key)
        if found is None:
            found = self._attributes[key] = {
                "db.system.name": self.system,
                "db.namespace": self.namespace,
                "db.collection.name": table,
                "db.operation.name": operation,
                "sqlops.method": method,
            }
        return found

    @contextmanager
    def span(self, name: str, attributes: dict[str, Any], current: bool = True) -> Iterator[Any]:
        """A CLIENT span (None without a tracer) and the duration metric around the block.

        ``current=False`` leaves the caller's context alone (a stream's span must not be
        the parent of what the caller's loop body does).
        """
        started = time.perf_counter()
        error: str | None = None
        span = token = None
        if self.tracer is not None:
            span = self.tracer.start_span(name, kind=self._kind, attributes=attributes)
            if current:
                token = self._attach(self._in_context(span))
        try:
            yield span
        except BaseException as exc:
            error = error_type(exc)
            if error is not None and span is not None:
                span.set_status(self._error)  # no description: the message may quote values
                span.set_attribute("error.type", error)
            raise
        finally:
            if token is not None:
                self._detach(token)
            if span is not None:
                span.end()
            if self.duration is not None:
                metric = {k: v for k, v in attributes.items() if k != "sqlops.filters"}
                if error is not None:
                    metric["error.type"] = error
                self.duration.record(time.perf_counter() - started, metric)

    async def call(
        self, repo: Any, method: str, fn: Callable[..., Awaitable[T]], args: Any, kwargs: Any
    ) -> T:
        """Run one repository call in its span."""
        operation = operation_name(method)
        table = repo.info.table.fullname
        attributes = self.attributes(table, method, operation)
        keys = filter_keys(fn, kwargs)
        if keys:
            attributes = {**attributes, "sqlops.filters": keys}
        token = scope.set(IN_CALL)
        try:
            with self.span(f"{operation} {table}", attributes):
                return await fn(repo, *args, **kwargs)
        finally:
            scope.reset(token)

    def transaction_attributes(self, method: str) -> dict[str, Any]:
        return {
            "db.system.name": self.system,
            "db.namespace": self.namespace,
            "db.operation.name": "TRANSACTION",
            "sqlops.method": method,
        }

    async def run(
        self, attempt: Callable[[], Awaitable[T]], go: Callable[[Callable[[], Awaitable[T]]], Any]
    ) -> T:
        """``db.run()`` in one span; each retried conflict is an event with its SQLSTATE."""
        with self.span(f"TRANSACTION {self.namespace}", self.transaction_attributes("run")) as span:
            number = 0

            async def attempted() -> T:
                nonlocal number
                number += 1
                token = scope.set(IN_RUN)
                try:
                    return await attempt()
                except TransactionConflictError as exc:
                    if span is not None:
                        span.add_event("retry", _retry_attributes(exc, number))
                    raise
                finally:
                    scope.reset(token)

            result: T = await go(attempted)
            return result

    def note_retry(self, exc: BaseException, number: int) -> None:
        """An event on the current span: a lost connection, retried (``retry_disconnects``)."""
        from opentelemetry import trace

        trace.get_current_span().add_event("retry", _retry_attributes(exc, number))


def _retry_attributes(exc: BaseException, number: int) -> dict[str, Any]:
    attributes: dict[str, Any] = {"sqlops.attempt": number, "error.type": error_type(exc) or ""}
    state = sqlstate(exc)
    if state:
        attributes["db.response.status_code"] = state
    return attributes


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE (or driver code) of the database error behind ``exc``, if any."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 6:
        orig = getattr(current, "orig", None)
        for candidate in (current, orig):
            code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
            if isinstance(code, str) and code:
                return code
            args = getattr(candidate, "args", ())
            if args and isinstance(args[0], int) and candidate is not current:
                return str(args[0])  # MySQL drivers: (errno, message)
            if candidate is not None and type(candidate).__name__ == "OperationalError":
                text = str(getattr(candidate, "sqlite_errorname", "") or "")
                if text:
                    return text  # SQLite: SQLITE_BUSY
        current = current.__cause__
        seen += 1
    return None


def error_type(exc: BaseException) -> str | None:
    """``error.type``: the exception's class, ``sqlops.X`` for ours; None for GeneratorExit."""
    if isinstance(exc, GeneratorExit):
        return None
    cls = type(exc)
    module = cls.__module__
    if module.startswith("sqlops"):
        return f"sqlops.{cls.__qualname__}"
    if module == "builtins":
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"
