"""OpenTelemetry metrics: operation duration, pool connections and waits, run() counters.

Used once telemetry is on (see :mod:`sqlops._telemetry`); OpenTelemetry itself is only
imported inside the callbacks, which need it.
"""

from __future__ import annotations

import functools
import time
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from ._database import Database

_NAME = "sqlops"
_DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)


def namespace(db: Database) -> str:
    """``db.namespace``: the database name (SQLite: the file's name, not its path)."""
    database = db.url.database or ""
    if db.dialect == "sqlite":
        return database.rsplit("/", 1)[-1] or ":memory:"
    return database


def pool_name(engine: AsyncEngine) -> str:
    """``db.client.connection.pool.name``: ``host:port/database``, never a user or password."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return (url.database or ":memory:").rsplit("/", 1)[-1]
    hosts = url.query.get("host")
    if hosts:
        where = ",".join(hosts) if isinstance(hosts, tuple) else str(hosts)
    else:
        where = f"{url.host}:{url.port or ''}".rstrip(":")
    return f"{where}/{url.database or ''}"


@functools.cache
def version() -> str:
    """The installed sqlops version, for the tracer's and meter's scope."""
    from importlib import metadata

    try:
        return metadata.version("sqlops")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source checkout
        return "0"


class Meters:
    """One meter provider's instruments, shared by every Database reporting to it.

    An instrument is made once per name and provider (a second one would be refused), so
    the pool and retry callbacks walk the Databases registered here, held weakly.
    """

    _by_provider: weakref.WeakKeyDictionary[Any, Meters] = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, provider: Any) -> Meters:
        found = cls._by_provider.get(provider)
        if found is None:
            found = cls._by_provider[provider] = cls(provider)
        return found

    def __init__(self, provider: Any) -> None:
        meter = provider.get_meter(_NAME, version())
        self.databases: weakref.WeakSet[Any] = weakref.WeakSet()
        self.duration = _histogram(meter, "db.client.operation.duration", "Duration of calls")
        self.wait_time = _histogram(
            meter, "db.client.connection.wait_time", "Time to get a pooled connection"
        )
        meter.create_observable_up_down_counter(
            "db.client.connection.count",
            callbacks=[self._connections],
            unit="{connection}",
            description="Pooled connections by state (idle, used)",
        )
        for field in ("runs", "attempts", "conflicts", "gave_up"):
            meter.create_observable_counter(
                f"sqlops.run.{field}",
                callbacks=[functools.partial(self._retries, field)],
                unit="{run}" if field in ("runs", "gave_up") else "{attempt}",
                description=f"db.run() {field}, as in db.stats",
            )

    def watch(self, db: Database) -> None:
        self.databases.add(db)

    def _connections(self, options: Any) -> Iterator[Any]:
        from opentelemetry.metrics import Observation

        for db in list(self.databases):
            if db._disposed:
                continue
            for engine in (db.engine, *db.replicas):
                pool = engine.pool
                if not hasattr(pool, "checkedin"):
                    continue  # a pool that keeps nothing (NullPool, StaticPool)
                name = pool_name(engine)
                for state, count in (("idle", pool.checkedin()), ("used", pool.checkedout())):
                    yield Observation(
                        count,
                        {"db.client.connection.pool.name": name,
                         "db.client.connection.state": state},
                    )  # fmt: skip

    def _retries(self, field: str, options: Any) -> Iterator[Any]:
        from opentelemetry.metrics import Observation

        for db in list(self.databases):
            yield Observation(
                getattr(db.stats, field),
                {"db.client.connection.pool.name": pool_name(db.engine),
                 "db.namespace": namespace(db)},
            )  # fmt: skip


def _histogram(meter: Any, name: str, description: str) -> Any:
    try:
        return meter.create_histogram(
            name,
            unit="s",
            description=description,
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )
    except TypeError:  # an opentelemetry-api before 1.23
        return meter.create_histogram(name, unit="s", description=description)


WAIT_ATTRIBUTE = "_sqlops_wait"  # on a timed pool: (histogram, attributes)


def record_wait(timed: tuple[Any, dict[str, str]], seconds: float) -> None:
    """Record one checkout's wait on a timed pool (the pool's fast lane takes its own)."""
    histogram, attributes = timed
    histogram.record(seconds, attributes)


def time_pool(engine: AsyncEngine, histogram: Any, name: str) -> None:
    """Record how long each checkout of ``engine``'s pool waited for a connection."""
    pool: Any = engine.pool
    if not hasattr(pool, "_do_get") or getattr(pool, "_sqlops_wait", None) is not None:
        return
    pool.__class__ = _timed_pool(type(pool))
    pool._sqlops_wait = (histogram, {"db.client.connection.pool.name": name})


_timed_pools: dict[type[Any], type[Any]] = {}


def _timed_pool(cls: type[Any]) -> type[Any]:
    found = _timed_pools.get(cls)
    if found is None:
        found = _timed_pools[cls] = _make_timed_pool(cls)
    return found


def _make_timed_pool(cls: type[Any]) -> type[Any]:
    def _do_get(self: Any) -> Any:
        started = time.perf_counter()
        try:
            return cls._do_get(self)
        finally:
            histogram, attributes = self._sqlops_wait
            histogram.record(time.perf_counter() - started, attributes)

    def recreate(self: Any) -> Any:
        new = cls.recreate(self)  # dispose() makes a new pool of the same class
        new._sqlops_wait = self._sqlops_wait
        return new

    return type(cls.__name__, (cls,), {"_do_get": _do_get, "recreate": recreate})
