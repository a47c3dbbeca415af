"""One scenario against the FastAPI app and the Litestar app: the same answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from squads import app as fastapi_app
from squads import litestar_app

import sqlops
import sqlops.litestar


@asynccontextmanager
async def fastapi_client(db: sqlops.Database) -> AsyncIterator[Any]:
    app = fastapi_app.create_app(db)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://squads") as http,
    ):
        yield http


@asynccontextmanager
async def litestar_client(db: sqlops.Database) -> AsyncIterator[Any]:
    # Litestar's test client runs the app on its own event loop: give it its own Database.
    async with AsyncTestClient(app=litestar_app.create_app(sqlops.Database(db.url))) as http:
        yield http


async def scenario(http: Any) -> list[tuple[int, Any]]:
    answers = []
    for method, path, body in [
        ("POST", "/users", {"email": "ada@x.org", "name": "Ada"}),
        ("POST", "/users", {"email": "bob@x.org", "name": "Bob"}),
        ("POST", "/users", {"email": "ada@x.org", "name": "Ada again"}),
        ("POST", "/squads", {"name": "Reds", "owner_id": 1}),
        ("POST", "/squads", {"name": "Ghosts", "owner_id": 99}),
        ("PUT", "/squads/1/members/2", None),
        ("PUT", "/squads/1/members/2", None),
        ("POST", "/squads/1/usage/runs?by=3", None),
        ("POST", "/squads/1/usage/runs", None),
        ("GET", "/squads/1", None),
        ("GET", "/squads/7", None),
    ]:
        response = await http.request(method, path, json=body)
        answers.append((response.status_code, _without_times(response.json())))
    return answers


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_times(v) for k, v in value.items() if k not in ("created_at", "updated_at")
        }
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


@pytest.mark.parametrize(
    "make_client", [fastapi_client, litestar_client], ids=["fastapi", "litestar"]
)
async def test_one_service_layer_two_frameworks(
    db: sqlops.Database, make_client: Callable[[sqlops.Database], Any]
):
    async with make_client(db) as http:
        answers = await scenario(http)
    statuses = [status for status, _ in answers]
    assert statuses == [201, 201, 409, 201, 404, 201, 200, 200, 200, 200, 404]
    assert answers[2][1] == {"detail": "email already exists", "field": "email"}
    assert answers[4][1] == {"detail": "User not found"}
    assert answers[8][1] == {"metric": "runs", "count": 4}
    detail = answers[9][1]
    assert [(m["user"]["name"], m["role"]) for m in detail["members"]] == [
        ("Ada", "owner"),
        ("Bob", "member"),
    ]
