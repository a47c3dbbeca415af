"""The request-scoped transaction: commit before the response, roll back on any error.

No ``from __future__ import annotations``: the routes below are local to their tests,
and FastAPI resolves string annotations in module globals only.
"""

from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncSession

import sqlops
import sqlops.fastapi as sf

from .app import Person

ADA = {"email": "ada@example.com", "name": "Ada"}


async def test_route_that_returns_commits(client: httpx.AsyncClient, api_db: sqlops.Database):
    response = await client.post("/people", json=ADA)
    assert response.status_code == 201
    assert await sqlops.Repository(Person, api_db).count(email="ada@example.com") == 1


async def test_http_exception_rolls_back(client: httpx.AsyncClient, api_db: sqlops.Database):
    response = await client.post("/people/forbidden", json=ADA)
    assert response.status_code == 403
    assert await sqlops.Repository(Person, api_db).count() == 0


async def test_unexpected_error_rolls_back(client: httpx.AsyncClient, api_db: sqlops.Database):
    response = await client.post("/people/crash", json=ADA)
    assert response.status_code == 500
    assert await sqlops.Repository(Person, api_db).count() == 0


async def test_failed_commit_is_the_response_not_a_lost_write(
    client: httpx.AsyncClient, api_db: sqlops.Database
):
    """The route returns 201, but its INSERT only runs at commit, and conflicts there."""
    assert (await client.post("/people", json=ADA)).status_code == 201
    response = await client.post("/people/unflushed", json={**ADA, "name": "Other"})
    assert response.status_code == 409
    assert response.json() == {"detail": "email already exists", "field": "email"}
    assert [p.name for p in await sqlops.Repository(Person, api_db).list()] == ["Ada"]


async def test_deferred_constraint_failing_at_commit_is_a_409(
    backend: str, client: httpx.AsyncClient, api_db: sqlops.Database
):
    if backend == "mysql":
        pytest.skip("MariaDB checks foreign keys immediately: no deferred constraints")
    response = await client.post("/notes", params={"person_id": 4242})
    assert response.status_code == 409
    assert response.json()["detail"].endswith("points to a row that does not exist")


async def test_plain_session_commits_only_when_the_route_does(
    client: httpx.AsyncClient, api_db: sqlops.Database
):
    kept = await client.post("/people/plain", json=ADA)
    dropped = await client.post(
        "/people/plain", params={"commit": "false"}, json={**ADA, "email": "b@example.com"}
    )
    assert (kept.status_code, dropped.status_code) == (201, 201)
    emails = [p.email for p in await sqlops.Repository(Person, api_db).list()]
    assert emails == ["ada@example.com"]


async def test_lifespan_pings_shares_and_disposes_the_database(url: object):
    db = sqlops.Database(url)  # type: ignore[arg-type]
    app = FastAPI(lifespan=sf.lifespan(db))

    @app.get("/ping")
    async def ping(session: Annotated[AsyncSession, sf.transaction()]) -> dict[str, int]:
        return {"one": (await session.execute(select(literal(1)))).scalar_one()}

    async with app.router.lifespan_context(app):
        assert app.state.sqlops_db is db
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.get("/ping")).json() == {"one": 1}
    assert db.engine.pool.checkedin() == 0  # disposed: no pooled connection left


async def test_lifespan_refuses_to_start_without_a_database():
    db = sqlops.Database("postgresql://nobody@127.0.0.1:1/none")
    app = FastAPI(lifespan=sf.lifespan(db))
    with pytest.raises(sqlops.DatabaseUnavailableError):
        async with app.router.lifespan_context(app):
            pass


async def test_transaction_without_a_database_says_how_to_give_one():
    app = FastAPI()

    @app.get("/")
    async def route(session: Annotated[AsyncSession, sf.transaction()]) -> None:
        return None

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        with pytest.raises(RuntimeError, match="lifespan"):
            await http.get("/")


async def test_every_dependency_of_a_request_shares_one_transaction(api_db: sqlops.Database):
    """A helper dependency and the route, each with its own ``transaction(db)``: one session."""
    app = FastAPI()

    def repository(session: Annotated[AsyncSession, sf.transaction(api_db)]) -> object:
        return sqlops.Repository(Person, session)

    @app.get("/")
    async def route(
        people: Annotated[sqlops.Repository[Person], Depends(repository)],
        session: Annotated[AsyncSession, sf.transaction(api_db)],
        other: Annotated[AsyncSession, sf.transaction(api_db, isolation="SERIALIZABLE")],
    ) -> dict[str, bool]:
        return {"shared": people.session is session, "distinct": other is not session}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/")).json() == {"shared": True, "distinct": True}
