"""Make ``custody`` importable; each test gets an empty database and a threaded client.

The app is served as under a real server: on an event loop in a thread of its own, each
``def`` route in FastAPI's thread pool. The client's calls block, and any number of test
threads may make them at once: concurrent requests really run concurrently.
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url

from sqlops import sync

sys.path.insert(0, str(Path(__file__).parent))

from custody.app import create_app, make_database
from custody.models import Base

REQUEST: ContextVar[int | None] = ContextVar("custody_request", default=None)


@pytest.fixture
def db(url: URL | str) -> Iterator[sync.Database]:
    """The app's own database settings, on this backend's sync driver."""
    parsed = make_url(url)
    database = make_database(parsed.set(drivername=parsed.get_backend_name()))
    database.drop_all(Base.metadata)
    database.create_all(Base.metadata)
    try:
        yield database
    finally:
        database.drop_all(Base.metadata)
        database.dispose()


class Checkouts:
    """Pool check-outs per request: ``per_request`` counts them, ``peak`` the most held at once.

    Every request runs with its number in :data:`REQUEST` (a context variable, which
    FastAPI's thread pool carries into the route's and the dependency's threads).
    """

    def __init__(self, db: sync.Database) -> None:
        self.lock = threading.Lock()
        self.per_request: dict[int, int] = {}
        self.held: dict[int, int] = {}  # request -> connections it holds now
        self.most_held: dict[int, int] = {}
        self.peak = 0
        self.gate: threading.Barrier | None = None
        event.listen(db.engine, "checkout", self._checkout)
        event.listen(db.engine, "checkin", self._checkin)

    def _checkout(self, dbapi: Any, record: Any, proxy: Any) -> None:
        request = REQUEST.get()
        if request is None:
            return
        record.info["custody_request"] = request
        with self.lock:
            self.per_request[request] = self.per_request.get(request, 0) + 1
            self.held[request] = self.held.get(request, 0) + 1
            self.most_held[request] = max(self.most_held.get(request, 0), self.held[request])
            self.peak = max(self.peak, sum(self.held.values()))
        if self.gate is not None:
            self.gate.wait()  # every request holds its connection before any goes on

    def _checkin(self, dbapi: Any, record: Any) -> None:
        request = record.info.pop("custody_request", None)
        if request is not None:
            with self.lock:
                self.held[request] -= 1


class _Numbered:
    """An ASGI wrapper giving every HTTP request its number in :data:`REQUEST`."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.numbers = itertools.count(1)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        token = REQUEST.set(next(self.numbers) if scope["type"] == "http" else None)
        try:
            await self.app(scope, receive, send)
        finally:
            REQUEST.reset(token)


@pytest.fixture
def checkouts(db: sync.Database) -> Checkouts:
    return Checkouts(db)


class ThreadedClient:
    """Blocking HTTP calls into the app, safe to make from many threads at once."""

    def __init__(self, portal: BlockingPortal, http: httpx.AsyncClient) -> None:
        self.portal = portal
        self.http = http

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.portal.call(partial(self.http.request, method, path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


@asynccontextmanager
async def _serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_Numbered(app))
    async with (
        app.router.lifespan_context(app),  # startup ping, shutdown dispose
        httpx.AsyncClient(transport=transport, base_url="http://custody") as http,
    ):
        yield http


@pytest.fixture
def client(db: sync.Database, checkouts: Checkouts) -> Iterator[ThreadedClient]:
    """A client of the app, served on its own thread, its lifespan running."""
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(_serving(create_app(db))) as http,
    ):
        yield ThreadedClient(portal, http)
