"""sqlops errors become the documented status with a body that leaks nothing."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

import sqlops
import sqlops.fastapi as sf

ADA = {"email": "ada@example.com", "name": "Ada"}
LEAKS = ("INSERT", "SELECT", "UPDATE", "DELETE", "[SQL", "parameters", "Key (")


def assert_no_leak(response: httpx.Response, *values: str) -> None:
    for word in (*LEAKS, *values):
        assert word not in response.text, f"{word!r} leaked into {response.text}"


async def test_missing_row_is_404(client: httpx.AsyncClient):
    response = await client.get("/people/77")
    assert response.status_code == 404
    assert response.json() == {"detail": "Person not found"}


async def test_duplicate_is_409_naming_the_field(client: httpx.AsyncClient):
    await client.post("/people", json=ADA)
    response = await client.post("/people", json={**ADA, "name": "Eve"})
    assert response.status_code == 409
    assert response.json() == {"detail": "email already exists", "field": "email"}
    assert_no_leak(response, "ada@example.com", "Eve")


async def test_missing_reference_is_409(client: httpx.AsyncClient):
    response = await client.post("/people", json={**ADA, "team_id": 999})
    assert response.status_code == 409
    assert response.json()["detail"] == "team_id points to a row that does not exist"
    assert_no_leak(response, "999")


async def test_deleting_a_referenced_row_is_409(client: httpx.AsyncClient):
    team = (await client.post("/teams", params={"name": "Reds"})).json()
    await client.post("/people", json={**ADA, "team_id": team["id"]})
    response = await client.delete(f"/teams/{team['id']}")
    assert response.status_code == 409
    assert response.json() == {"detail": "the row is still referenced by other rows"}


async def test_too_long_value_is_422(backend: str, client: httpx.AsyncClient):
    if backend == "sqlite":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    person = (await client.post("/people", json=ADA)).json()
    long_name = "Bartholomew-Maximilian Worthington"  # the column allows 20 characters
    response = await client.patch(f"/people/{person['id']}", params={"name": long_name})
    assert response.status_code == 422
    assert response.json() == {
        "detail": "invalid value for name (at most 20 characters)",
        "field": "name",
    }
    assert_no_leak(response, long_name)


async def test_out_of_range_number_is_422(client: httpx.AsyncClient):
    response = await client.post("/people", json={**ADA, "age": 2**70})
    assert response.status_code == 422
    assert response.json()["field"] == "age"
    assert_no_leak(response, str(2**70))


async def test_unreachable_database_is_503():
    db = sqlops.Database("postgresql://nobody@127.0.0.1:1/none")
    app = FastAPI()
    sf.install_exception_handlers(app)

    @app.get("/")
    async def route() -> int:
        return await sqlops.Repository(_person(), db).count()

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/")
    await db.dispose()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json() == {"detail": "the database is unavailable; try again later"}
    assert_no_leak(response, "nobody", "127.0.0.1")


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (sqlops.TransactionConflictError("40001 ..."), 409, "concurrent change"),
        (sqlops.NotNullViolation(table="t", columns=["name"]), 409, "name is required"),
        (sqlops.CheckViolation(table="t", constraint="ck_t_positive"), 409, "ck_t_positive"),
        (sqlops.UniqueViolation(table="t", columns=["a", "b"]), 409, "combination of a, b"),
        (sqlops.InvalidCursorError("invalid cursor"), 400, "invalid cursor"),
        (sqlops.InvalidValueError("a value could not be sent to the database: 'x'"), 422, None),
    ],
)
def test_error_response_for_each_kind(error: sqlops.SqlopsError, status: int, body: str | None):
    response = sf.error_response(error)
    assert response.status_code == status
    text = bytes(response.body).decode()
    assert body is None or body in text
    assert "'x'" not in text
    assert "40001" not in text


def _person() -> type:
    from .app import Person

    return Person
