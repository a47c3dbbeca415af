"""Spans nest under the request span of opentelemetry-instrumentation-fastapi."""

# FastAPI reads the route annotations at run time: no `from __future__ import annotations`.

from typing import Annotated, Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

import sqlops
import sqlops.fastapi
from sqlops import Repository
from tests.models import User
from tests.ops.conftest import Otel

fastapi = pytest.importorskip("fastapi")
instrumentation = pytest.importorskip(
    "opentelemetry.instrumentation.fastapi", reason="opentelemetry-instrumentation-fastapi"
)


def make_app(db: sqlops.Database, otel: Otel) -> Any:
    app = fastapi.FastAPI()
    Tx = Annotated[AsyncSession, sqlops.fastapi.transaction(db)]

    @app.post("/users")
    async def create(session: Tx) -> dict[str, int]:
        user = await Repository(User, session).create(email="r@example.com", name="Ra")
        return {"id": user.id}

    @app.get("/users/{user_id}")
    async def read(user_id: int) -> dict[str, str]:
        user = await Repository(User, db).get_one(user_id)
        return {"name": user.name}

    instrumentation.FastAPIInstrumentor.instrument_app(app, tracer_provider=otel.tracer_provider)
    return app


async def test_sqlops_spans_are_children_of_the_request_span(
    traced: sqlops.Database, otel: Otel
) -> None:
    transport = httpx.ASGITransport(app=make_app(traced, otel))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        created = await http.post("/users")
        assert created.status_code == 200
        read = await http.get(f"/users/{created.json()['id']}")
        assert read.json() == {"name": "Ra"}
    spans = otel.finished()
    by_id = {s.context.span_id: s for s in spans}
    post = next(s for s in spans if s.name == "POST /users")
    get = next(s for s in spans if s.name == "GET /users/{user_id}")
    transaction = next(s for s in spans if s.name.startswith("TRANSACTION"))
    insert = next(s for s in spans if s.name == "INSERT users")
    select = next(s for s in spans if s.name == "SELECT users")
    assert transaction.parent.span_id == post.context.span_id
    assert insert.parent.span_id == transaction.context.span_id
    assert select.parent.span_id == get.context.span_id
    assert by_id[select.parent.span_id].context.trace_id == select.context.trace_id
