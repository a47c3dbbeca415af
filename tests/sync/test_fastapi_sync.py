"""sync_session() / sync_transaction() for ``def`` routes: commit before the response."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from sqlalchemy.orm import Session

import sqlops.fastapi
from sqlops import sync
from tests.models import Team

# Module level: the routes' annotations are strings (PEP 563), resolved here.
Tx = Annotated[Session, sqlops.fastapi.sync_transaction()]  # app.state.sqlops_sync_db
Plain = Annotated[Session, sqlops.fastapi.sync_session()]


@pytest.fixture
async def client(sync_db: sync.Database) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    sqlops.fastapi.install_exception_handlers(app)
    app.state.sqlops_sync_db = sync_db

    @app.post("/teams")
    def create(name: str, session: Tx, fail: bool = False) -> dict[str, Any]:
        team = sync.Repository(Team, session).create(name=name)
        if fail:
            raise HTTPException(400, "no")
        return {"id": team.id}

    @app.get("/teams")
    def count(session: Plain) -> dict[str, int]:
        return {"count": sync.Repository(Team, session).count()}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def test_the_transaction_is_committed_before_the_response(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.post("/teams", params={"name": "a"})).status_code == 200
    assert (await client.get("/teams")).json() == {"count": 1}  # visible to the very next request


async def test_an_error_rolls_back_and_maps_to_its_status(client: httpx.AsyncClient) -> None:
    assert (await client.post("/teams", params={"name": "a", "fail": True})).status_code == 400
    assert (await client.get("/teams")).json() == {"count": 0}
    await client.post("/teams", params={"name": "a"})
    duplicate = await client.post("/teams", params={"name": "a"})
    assert duplicate.status_code == 409
    assert duplicate.json()["field"] == "name"


async def test_sync_lifespan_pings_shares_and_disposes_the_database(sync_db: sync.Database):
    app = FastAPI(lifespan=sqlops.fastapi.sync_lifespan(sync_db))

    @app.get("/teams")
    def count(session: Tx) -> dict[str, int]:
        return {"count": sync.Repository(Team, session).count()}

    async with app.router.lifespan_context(app):
        assert app.state.sqlops_sync_db is sync_db
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.get("/teams")).json() == {"count": 0}
    assert sync_db.engine.pool.checkedin() == 0  # disposed: no pooled connection left


async def test_sync_lifespan_refuses_to_start_without_a_database():
    db = sync.Database("postgresql://nobody@127.0.0.1:1/none")
    app = FastAPI(lifespan=sqlops.fastapi.sync_lifespan(db))
    with pytest.raises(sqlops.DatabaseUnavailableError):
        async with app.router.lifespan_context(app):
            pass
