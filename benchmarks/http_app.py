"""The three FastAPI apps of ``python -m benchmarks.http``: one API, three data layers.

Each factory builds an app with ``GET /users/{id}`` and ``PATCH /users/{id}`` (body
``{"name": ...}``) answering ``{"id", "email", "name"}`` through the same Pydantic model,
so the apps differ only in how they reach the database. uvicorn imports them with
``--factory benchmarks.http_app:<name>_app``; the database URL and pool size come from
the environment (``http_server.URL_ENV``, ``POOL_ENV``), as a subprocess takes no arguments.
"""

# No ``from __future__ import annotations``: the routes are defined inside the factories, and
# FastAPI must see their ``Annotated`` dependencies as objects, not names it cannot resolve.
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

import sqlops
import sqlops.fastapi as sf

from .http_server import POOL_ENV, URL_ENV
from .schema import TABLE_NAME, User

_SELECT = f"SELECT id, email, name FROM {TABLE_NAME} WHERE id = $1"
_UPDATE = f"UPDATE {TABLE_NAME} SET name = $2 WHERE id = $1"


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    email: str
    name: str


class UserPatch(BaseModel):
    name: str


def _settings() -> tuple[str, int]:
    return os.environ[URL_ENV], int(os.environ.get(POOL_ENV, "10"))


def _not_found(user_id: int) -> HTTPException:
    return HTTPException(status_code=404, detail=f"user {user_id} not found")


def sqlops_app() -> FastAPI:
    """sqlops as its FastAPI page shows it: ``Annotated[AsyncSession, sf.transaction(db)]``."""
    url, pool = _settings()
    db = sqlops.Database(url, pool_size=pool, max_overflow=0)
    app = FastAPI(lifespan=sf.lifespan(db))
    sf.install_exception_handlers(app)
    Tx = Annotated[AsyncSession, sf.transaction(db)]

    @app.get("/users/{user_id}")
    async def get_user(user_id: int, session: Tx) -> UserOut:
        user = await sqlops.Repository(User, session).get(user_id)
        if user is None:
            raise _not_found(user_id)
        return UserOut.model_validate(user)

    @app.patch("/users/{user_id}")
    async def patch_user(user_id: int, body: UserPatch, session: Tx) -> UserOut:
        users = sqlops.Repository(User, session)
        if await users.get(user_id) is None:
            raise _not_found(user_id)
        return UserOut.model_validate(await users.update(user_id, name=body.name))

    return app


def sqlalchemy_app() -> FastAPI:
    """Plain SQLAlchemy 2: an engine, ``async_sessionmaker``, a ``begin()`` dependency.

    The dependency has ``scope="function"``, as sqlops' does, so that both commit before
    the response is sent; with FastAPI's default (``"request"``) the commit would run
    after it and leave the round trip out of the latency, not out of the work.
    """
    url, pool = _settings()
    engine = create_async_engine(make_url(url), pool_size=pool, max_overflow=0)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def get_session() -> AsyncIterator[AsyncSession]:
        async with sessions.begin() as session:
            yield session

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    Session = Annotated[AsyncSession, Depends(get_session, scope="function")]

    @app.get("/users/{user_id}")
    async def get_user(user_id: int, session: Session) -> UserOut:
        user = await session.get(User, user_id)
        if user is None:
            raise _not_found(user_id)
        return UserOut.model_validate(user)

    @app.patch("/users/{user_id}")
    async def patch_user(user_id: int, body: UserPatch, session: Session) -> UserOut:
        user = await session.get(User, user_id)
        if user is None:
            raise _not_found(user_id)
        user.name = body.name  # flushed by the commit
        return UserOut.model_validate(user)

    return app


def asyncpg_app() -> FastAPI:
    """The floor: an ``asyncpg`` pool, a transaction per request, hand-written SQL."""
    url, pool_size = _settings()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    pools: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pools["pool"] = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size)
        try:
            yield
        finally:
            await pools["pool"].close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/users/{user_id}")
    async def get_user(user_id: int) -> UserOut:
        async with pools["pool"].acquire() as conn, conn.transaction():
            row = await conn.fetchrow(_SELECT, user_id)
        if row is None:
            raise _not_found(user_id)
        return UserOut.model_validate(dict(row))

    @app.patch("/users/{user_id}")
    async def patch_user(user_id: int, body: UserPatch) -> UserOut:
        async with pools["pool"].acquire() as conn, conn.transaction():
            row = await conn.fetchrow(_SELECT, user_id)
            if row is None:
                raise _not_found(user_id)
            await conn.execute(_UPDATE, user_id, body.name)
        return UserOut.model_validate({**dict(row), "name": body.name})

    return app
