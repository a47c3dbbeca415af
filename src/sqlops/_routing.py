"""Where a read runs: the next replica that is up (and caught up), else the primary."""

from __future__ import annotations

import functools
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from . import _transaction
from ._engines import PoolTimeoutError, with_driver
from ._errors import DatabaseUnavailableError
from ._replication import Lag
from ._transaction import shielded

logger = logging.getLogger("sqlops")

T = TypeVar("T")

AUTOCOMMIT_OPTION = "sqlops_autocommit"
_REPLICA_RETRY_AFTER = 5.0


class ReplicaRouting:
    """The standalone read paths of :class:`~sqlops.Database` and their replica choice.

    A replica that fails is skipped for ``_REPLICA_RETRY_AFTER`` seconds. With
    ``read_your_writes`` on, a replica that may not have replayed this Database's last
    commit is waited for (``Lag``), then passed over for the primary.
    """

    engine: AsyncEngine
    _replicas: list[AsyncEngine]
    _replica_down: dict[int, float]
    _readers: dict[int, AsyncEngine]
    _replica_cycle: Iterator[int]
    _lag: Lag | None
    _sessionmaker: Any

    @property
    def dialect(self) -> str:
        raise NotImplementedError  # pragma: no cover - Database defines it

    def _routing_setup(self, replicas: list[AsyncEngine], lag: Lag | None) -> None:
        self._replicas = replicas
        self._replica_down = {}
        self._readers = {}
        self._replica_cycle = itertools.cycle(range(len(replicas)))
        self._lag = lag if replicas and self.dialect == "postgresql" else None

    async def _begin(
        self, isolation: str | None, readonly: bool, *, enforce: bool = False
    ) -> AsyncSession:
        raise NotImplementedError  # pragma: no cover - Database defines it

    async def _open(
        self, make: Callable[[], AsyncSession], options: dict[str, Any]
    ) -> AsyncSession:
        raise NotImplementedError  # pragma: no cover - Database defines it

    async def _read(self, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run a standalone read ``fn(session)``; retry once if the connection was lost.

        On PostgreSQL the read runs in autocommit: one statement is consistent on its
        own, and BEGIN / COMMIT would triple the round trips of a primary-key read.
        Reads are idempotent, so a connection that died under us is replaced and the
        read repeated once.
        """
        for attempt in (1, 2):
            session = await self._read_session()
            try:
                result = await fn(session)
                if session.in_transaction():
                    await session.commit()
                return result
            except DatabaseUnavailableError as exc:
                if attempt == 2 or isinstance(exc, PoolTimeoutError):
                    raise
                logger.info("connection lost during a read, retrying once: %s", exc)
            finally:
                await _transaction.close(session)
        raise AssertionError("unreachable")  # pragma: no cover

    def _next_replica(self) -> int | None:
        """The next replica that is not known to be down, or None."""
        for _ in range(len(self._replicas)):
            index = next(self._replica_cycle)
            down_since = self._replica_down.get(index)
            if down_since is None or time.monotonic() - down_since >= _REPLICA_RETRY_AFTER:
                return index
        return None

    async def _read_target(self) -> tuple[int | None, AsyncEngine]:
        """The next replica that is up and has replayed our last commit, else the primary."""
        for _ in range(len(self._replicas)):
            index = self._next_replica()
            if index is None:
                break
            fresh = await self._fresh(index)
            if fresh:
                return index, self._replicas[index]
            if fresh is not None:
                break  # up but behind: the primary has the write
        return None, self.engine

    async def _fresh(self, index: int) -> bool | None:
        """Whether replica ``index`` may serve a read now (read-your-writes, when on).

        False: it is up but behind; None: it failed, and is marked down.
        """
        lag = self._lag
        if lag is None or not lag.behind(index):
            return True
        try:
            return await lag.caught_up(index, self._reader(self._replicas[index]))
        except PoolTimeoutError:
            raise
        except (DatabaseUnavailableError, OSError) as exc:
            self._mark_down(index, exc)
            return None

    def _mark_down(self, index: int | None, exc: BaseException) -> None:
        if index is not None:
            self._replica_down[index] = time.monotonic()
            logger.warning("replica %d is unavailable, skipping it: %s", index, exc)

    def _reader(self, engine: AsyncEngine) -> AsyncEngine:
        """``engine`` set up for a single-statement read (autocommit where it is free)."""
        found = self._readers.get(id(engine))
        if found is None:
            if self.dialect == "postgresql":
                found = engine.execution_options(isolation_level="AUTOCOMMIT")
            elif self.dialect == "sqlite":
                found = engine.execution_options(**{AUTOCOMMIT_OPTION: True})
            else:
                found = engine
            self._readers[id(engine)] = found
        return found

    async def _on_read_target(self, attempt: Callable[[AsyncEngine], Awaitable[T]]) -> T:
        """``attempt(engine)`` on the read target (a replica if any); on a lost connection
        mark that target down and try the next, up to once per replica plus the primary."""
        failure: DatabaseUnavailableError | None = None
        for _ in range(2 + len(self._replicas)):
            index, engine = await self._read_target()
            try:
                return await attempt(engine)
            except PoolTimeoutError:
                raise
            except DatabaseUnavailableError as exc:
                failure = exc
                self._mark_down(index, exc)
        assert failure is not None
        raise failure

    async def _core_read(self, use: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run a read on a pooled Core connection (a replica if any); retry a lost one."""

        async def attempt(engine: AsyncEngine) -> T:
            async with self._reader(engine).connect() as conn:
                return await use(conn)

        return await self._on_read_target(attempt)

    async def _driver_read(self, use: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``use(driver_connection)`` on a pooled connection; retry a lost one."""
        return await self._on_read_target(lambda engine: with_driver(engine, use))

    async def _read_session(self) -> AsyncSession:
        if self.dialect != "postgresql":
            return await self._begin(None, True)
        options = {"isolation_level": "AUTOCOMMIT"}
        if self._replicas:
            replica = await self._replica_session(options)
            if replica is not None:
                return replica
        session: AsyncSession = self._sessionmaker()
        try:
            await session.connection(execution_options=options)
        except BaseException:
            await shielded(session.close())
            raise
        return session

    async def _replica_session(self, options: dict[str, Any]) -> AsyncSession | None:
        """A session on the next replica that is up and caught up, or None: the primary.

        The read-your-writes check runs before the session begins, so a snapshot taken
        at BEGIN (REPEATABLE READ) already includes the awaited commit.
        """
        for _ in range(len(self._replicas)):
            index = self._next_replica()
            if index is None:
                return None
            fresh = await self._fresh(index)
            if fresh is None:
                continue
            if not fresh:
                return None  # up but behind: the primary has the write
            make = functools.partial(self._sessionmaker, bind=self._replicas[index])
            try:
                session = await self._open(make, options)
            except PoolTimeoutError:
                raise  # busy, not down: as on the other read paths
            except (DatabaseUnavailableError, OSError) as exc:
                self._mark_down(index, exc)
                continue
            self._replica_down.pop(index, None)
            return session
        return None
