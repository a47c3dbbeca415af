"""One test run's database: where it is, its schema, and one pooled engine per event loop.

An async engine's pooled connections belong to the event loop that opened them, and a
test suite runs many loops (pytest-asyncio's default is one per test). So the kit keeps:

* ``database``: the session-wide :class:`Database` (``sqlops_db``), with no pool
  (``NullPool``): each session opens its own connection in whatever loop it runs in,
  which makes it safe from any test at any loop scope.
* one pooled :class:`Database` per running loop, for the per-test fixtures. It is made on
  the first test of a loop and disposed when that loop shuts down (through an async
  generator, which ``asyncio.Runner`` closes at shutdown), so every connection is closed
  by the loop that opened it. (Tests whose pytest-asyncio loop lives for them alone use
  ``database`` instead: a pool would serve one test.)

Server set-up and tear-down (throwaway database, schema) run in a worker thread, away
from whatever loop the test runner keeps in the main thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import MetaData
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from sqlops._database import Database
from sqlops._url import dialect_family, resolve_url, safe_url
from sqlops.testing._throwaway import create_database, drop_database

T = TypeVar("T")
ENV_URL = "SQLOPS_TEST_URL"
DEFAULT_OPTIONS: dict[str, Any] = {"n_plus_one": "raise", "leaked_sessions": "warn"}


def in_thread(fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``fn()`` to completion on a fresh loop in a worker thread."""
    return blocking_in_thread(lambda: asyncio.run(fn()))


def blocking_in_thread(fn: Callable[[], T]) -> T:
    """Call ``fn()`` in a worker thread (its own event loop, if it makes one) and wait."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name="sqlops-testing")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


class Kit:
    """The throwaway database of one test run and the Databases that use it."""

    def __init__(self, url: URL, *, created: bool, options: dict[str, Any]) -> None:
        self.url = url
        self.created = created
        self.options = options
        engine_options = {**options.get("engine_options", {}), "poolclass": NullPool}
        self.database = Database(url, **{**options, "engine_options": engine_options})
        self._by_loop: dict[asyncio.AbstractEventLoop, _LoopDatabase] = {}

    @classmethod
    def start(
        cls,
        url: str | URL,
        *,
        metadata: MetaData | None = None,
        alembic: Path | None = None,
        options: dict[str, Any] | None = None,
    ) -> Kit:
        """Create the throwaway database (on a server) and its schema."""
        target = resolve_url(url)
        created = dialect_family(target) != "sqlite"
        if created:
            target = in_thread(lambda: create_database(target))
        try:
            kit = cls(target, created=created, options={**DEFAULT_OPTIONS, **(options or {})})
            if alembic is not None:
                blocking_in_thread(lambda: _alembic_upgrade(alembic, target))
            elif metadata is not None:
                in_thread(lambda: _create_all(target, metadata))
        except BaseException:
            if created:
                in_thread(lambda: drop_database(target))
            raise
        return kit

    def __repr__(self) -> str:
        return f"Kit({safe_url(self.url)!r})"

    async def loop_database(self) -> Database:
        """The pooled Database of the running event loop (made on first use)."""
        loop = asyncio.get_running_loop()
        entry = self._by_loop.get(loop)
        if entry is None:
            entry = _LoopDatabase(self._pooled_database(), self._by_loop, loop)
            await entry.start()
        return entry.database

    def _pooled_database(self) -> Database:
        # No pre-ping: a test server does not drop idle connections, and the ping would
        # cost every test a round trip.
        engine_options = {"pool_pre_ping": False, **self.options.get("engine_options", {})}
        return Database(self.url, **{**self.options, "engine_options": engine_options})

    def close(self) -> None:
        """Dispose every Database, then drop the throwaway database."""
        try:
            for entry in list(self._by_loop.values()):
                entry.close_from_outside()
            in_thread(self.database.dispose)
        finally:
            if self.created:
                in_thread(lambda: drop_database(self.url))


class _LoopDatabase:
    """A Database used from one event loop, disposed when that loop shuts down."""

    def __init__(
        self,
        database: Database,
        registry: dict[asyncio.AbstractEventLoop, _LoopDatabase],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.database = database
        self._registry = registry
        self._loop = loop
        self._sentinel = self._dispose_at_shutdown()

    async def start(self) -> None:
        # First iterated inside the loop, the generator is registered with it, and
        # loop.shutdown_asyncgens() (run by asyncio.Runner on close) will finalize it.
        await self._sentinel.__anext__()
        self._registry[self._loop] = self

    async def _dispose_at_shutdown(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            self._registry.pop(self._loop, None)
            await self.database.dispose()

    def close_from_outside(self) -> None:
        """At the end of the run: dispose now if the loop is idle, else leave it be."""
        if self._loop.is_closed() or self._loop.is_running():
            self._registry.pop(self._loop, None)
            return
        self._loop.run_until_complete(self._sentinel.aclose())


async def _create_all(url: URL, metadata: MetaData) -> None:
    database = Database(url)
    try:
        await database.create_all(metadata)
    finally:
        await database.dispose()


def _alembic_upgrade(location: Path, url: URL) -> None:
    """Migrate the throwaway database to head with sqlops.migrations (Alembic underneath).

    ``location`` is an ``alembic.ini``, a ``pyproject.toml`` (or its directory) with
    ``[tool.sqlops]``, or a migrations directory holding ``env.py``.
    """
    from sqlops import migrations

    if location.is_dir() and (location / "env.py").is_file():
        from alembic import command

        command.upgrade(_migrations_dir_config(location, url), "head")
    else:
        migrations.upgrade(config=location, url=url)


def _migrations_dir_config(location: Path, url: URL) -> Any:
    """Alembic's Config for a bare migrations directory (no ini, no pyproject settings).

    The URL goes both where sqlops' env.py looks (``config.attributes``) and where a
    hand-written env.py looks (``sqlalchemy.url``).
    """
    from alembic.config import Config

    from sqlops.migrations.env import URL_KEY

    config = Config()
    config.set_main_option("script_location", str(location))
    config.set_main_option("prepend_sys_path", str(location.parent))
    config.set_main_option("path_separator", "os")
    rendered = url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    config.attributes[URL_KEY] = url
    return config
