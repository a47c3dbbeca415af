"""crud_router through FastAPI's ASGI app: every endpoint, and bad input with exact answers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Response

import sqlops
import sqlops.fastapi as sf

from .models import (
    FILTERS,
    Author,
    AuthorIn,
    AuthorOut,
    AuthorPatch,
    Group,
    GroupIn,
    GroupOut,
    Member,
    MemberIn,
    MemberOut,
)


def make_app(db: sqlops.Database, **options: Any) -> FastAPI:
    app = FastAPI()
    sf.install_exception_handlers(app)
    settings: dict[str, Any] = {
        "read": AuthorOut,
        "create": AuthorIn,
        "update": AuthorPatch,
        "filters": FILTERS,
        "order": ["name", "age", "id"],
        "db": db,
        "page_size": 2,
        "max_page_size": 50,
    }
    app.include_router(sf.crud_router(Author, **{**settings, **options}))
    return app


async def client_for(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def client(fw_db: sqlops.Database) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(make_app(fw_db)) as http:
        yield http


@pytest.fixture
async def cursor_client(fw_db: sqlops.Database) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(make_app(fw_db, pagination="cursor")) as http:
        yield http


async def test_create_answers_201_with_location(client: httpx.AsyncClient):
    response = await client.post("/fw_authors", json={"email": "ada@x.org", "name": "Ada"})
    assert response.status_code == 201
    assert response.json() == {"id": 1, "email": "ada@x.org", "name": "Ada", "age": None}
    assert response.headers["location"] == "/fw_authors/1"
    assert (await client.get(response.headers["location"])).json()["name"] == "Ada"


async def test_create_duplicate_is_409_naming_the_field(client: httpx.AsyncClient):
    ada = {"email": "ada@x.org", "name": "Ada"}
    assert (await client.post("/fw_authors", json=ada)).status_code == 201
    response = await client.post("/fw_authors", json=ada)
    assert response.status_code == 409
    assert response.json() == {"detail": "email already exists", "field": "email"}


async def test_create_with_a_missing_field_is_422(client: httpx.AsyncClient):
    response = await client.post("/fw_authors", json={"email": "ada@x.org"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]


@pytest.mark.usefixtures("authors")
async def test_get_returns_the_read_schema_and_404_when_absent(client: httpx.AsyncClient):
    response = await client.get("/fw_authors/3")
    assert response.status_code == 200
    assert response.json() == {"id": 3, "email": "cy@x.org", "name": "Cy", "age": 41}
    missing = await client.get("/fw_authors/99")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Author not found"}
    assert (await client.get("/fw_authors/abc")).status_code == 422  # typed path parameter


@pytest.mark.usefixtures("authors")
async def test_patch_writes_only_the_fields_sent(client: httpx.AsyncClient):
    response = await client.patch("/fw_authors/1", json={"name": "Ada L."})
    assert response.status_code == 200
    assert response.json() == {"id": 1, "email": "ada@x.org", "name": "Ada L.", "age": 36}
    cleared = await client.patch("/fw_authors/1", json={"age": None})
    assert cleared.json() == {"id": 1, "email": "ada@x.org", "name": "Ada L.", "age": None}
    missing = await client.patch("/fw_authors/99", json={"name": "x"})
    assert (missing.status_code, missing.json()) == (404, {"detail": "Author not found"})


@pytest.mark.usefixtures("authors")
async def test_patch_into_a_duplicate_is_409(client: httpx.AsyncClient):
    response = await client.patch("/fw_authors/1", json={"email": "bob@x.org"})
    assert response.status_code == 409
    assert response.json() == {"detail": "email already exists", "field": "email"}
    assert (await client.get("/fw_authors/1")).json()["email"] == "ada@x.org"  # rolled back


@pytest.mark.usefixtures("authors")
async def test_delete_answers_204_then_404(client: httpx.AsyncClient):
    response = await client.delete("/fw_authors/2")
    assert (response.status_code, response.content) == (204, b"")
    again = await client.delete("/fw_authors/2")
    assert (again.status_code, again.json()) == (404, {"detail": "Author not found"})


@pytest.mark.usefixtures("authors")
async def test_list_filters_orders_and_pages(client: httpx.AsyncClient):
    response = await client.get("/fw_authors", params={"order_by": "-age", "age__gt": "20"})
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {"id": 3, "email": "cy@x.org", "name": "Cy", "age": 41},
            {"id": 1, "email": "ada@x.org", "name": "Ada", "age": 36},
        ],
        "total": 3,
        "page": 1,
        "per_page": 2,
        "pages": 2,
    }
    second = await client.get("/fw_authors", params={"order_by": "-age", "age__gt": 20, "page": 2})
    assert [a["name"] for a in second.json()["items"]] == ["Bob"]


@pytest.mark.usefixtures("authors")
async def test_list_operators_take_repeated_or_comma_separated_values(
    client: httpx.AsyncClient,
):
    def names(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return [a["name"] for a in response.json()["items"]]

    repeated = [("age__in", "25"), ("age__in", "41")]
    assert names(await client.get("/fw_authors", params=repeated)) == ["Bob", "Cy"]
    assert names(await client.get("/fw_authors", params={"age__in": "25,41"})) == ["Bob", "Cy"]
    assert names(await client.get("/fw_authors", params={"age__is_null": "true"})) == ["Di"]
    assert names(await client.get("/fw_authors", params={"name__ilike": "%D%"})) == ["Ada", "Di"]


async def test_unknown_filter_is_400_listing_the_allowed(client: httpx.AsyncClient):
    response = await client.get("/fw_authors", params={"email": "ada@x.org"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "unknown filter 'email'; allowed filters: "
        "age__gt, age__in, age__is_null, name, name__ilike"
    }


async def test_filter_value_of_the_wrong_type_is_422(client: httpx.AsyncClient):
    response = await client.get("/fw_authors", params={"age__gt": "old"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "age__gt"]


async def test_injected_order_is_400(client: httpx.AsyncClient):
    response = await client.get("/fw_authors", params={"order_by": "name; DROP TABLE fw_authors"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "cannot order by 'name; DROP TABLE fw_authors'; allowed: age, id, name"
    }


async def test_oversized_page_is_422(client: httpx.AsyncClient):
    response = await client.get("/fw_authors", params={"per_page": 1000})
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "type": "less_than_equal",
                "loc": ["query", "per_page"],
                "msg": "Input should be less than or equal to 50",
                "input": "1000",
                "ctx": {"le": 50},
            }
        ]
    }


@pytest.mark.usefixtures("authors")
async def test_cursor_pages_walk_every_row_once(cursor_client: httpx.AsyncClient):
    seen: list[str] = []
    params: dict[str, Any] = {"order_by": "name"}
    while True:
        body = (await cursor_client.get("/fw_authors", params=params)).json()
        assert set(body) == {"items", "next_cursor"}
        seen += [a["name"] for a in body["items"]]
        if body["next_cursor"] is None:
            break
        params["after"] = body["next_cursor"]
    assert seen == ["Ada", "Bob", "Cy", "Di"]


@pytest.mark.usefixtures("authors")
async def test_forged_or_stale_cursor_is_400(cursor_client: httpx.AsyncClient):
    forged = await cursor_client.get("/fw_authors", params={"after": "eyJub3QiOiJvdXJzIn0"})
    assert forged.status_code == 400
    assert forged.json() == {"detail": "invalid cursor: it was altered or issued by another server"}
    first = (await cursor_client.get("/fw_authors", params={"order_by": "name"})).json()
    stale = await cursor_client.get(
        "/fw_authors", params={"order_by": "-age", "after": first["next_cursor"]}
    )
    assert stale.status_code == 400
    assert stale.json() == {
        "detail": "stale cursor: it was made for a different ordering; start again without a cursor"
    }
    too_many = await cursor_client.get("/fw_authors", params={"limit": 51})
    assert too_many.status_code == 422


async def test_composite_uuid_key_is_two_path_segments(fw_db: sqlops.Database):
    app = FastAPI()
    sf.install_exception_handlers(app)
    app.include_router(sf.crud_router(Member, read=MemberOut, create=MemberIn, db=fw_db))
    author = await sqlops.Repository(Author, fw_db).create(email="a@x.org", name="A")
    token = uuid.uuid4()
    async with await client_for(app) as http:
        body = {"author_id": author.id, "token": str(token), "role": "owner"}
        created = await http.post("/fw_members", json=body)
        assert created.status_code == 201
        assert created.headers["location"] == f"/fw_members/{author.id}/{token}"
        assert (await http.get(created.headers["location"])).json() == body
        assert (await http.get(f"/fw_members/{author.id}/not-a-uuid")).status_code == 422
        dangling = {**body, "author_id": 999, "token": str(uuid.uuid4())}
        response = await http.post("/fw_members", json=dangling)
        assert response.status_code == 409
        assert response.json() == {
            "detail": "author_id points to a row that does not exist",
            "field": "author_id",
        }
        assert (await http.delete(created.headers["location"])).status_code == 204


async def test_reserved_words_as_table_and_filter(fw_db: sqlops.Database):
    app = FastAPI()
    sf.install_exception_handlers(app)
    router = sf.crud_router(
        Group, read=GroupOut, create=GroupIn, filters=["order"], order=["order"], db=fw_db
    )
    app.include_router(router, prefix="/api")
    async with await client_for(app) as http:
        for value in (3, 1, 2):
            assert (await http.post("/api/group", json={"order": value})).status_code == 201
        listed = await http.get("/api/group", params={"order_by": "-order"})
        assert [g["order"] for g in listed.json()["items"]] == [3, 2, 1]
        one = await http.get("/api/group", params={"order": 2})
        assert one.json()["items"] == [{"id": 3, "order": 2}]


async def test_methods_limit_and_override_endpoints(fw_db: sqlops.Database):
    async def refuse_delete(id: int) -> Response:  # the path is /people/{id}
        return Response(status_code=403)

    app = make_app(fw_db, methods={"get": None, "delete": refuse_delete}, prefix="/people")
    await sqlops.Repository(Author, fw_db).create(email="a@x.org", name="A")
    async with await client_for(app) as http:
        assert (await http.get("/people/1")).status_code == 200
        assert (await http.delete("/people/1")).status_code == 403
        assert (await http.get("/people")).status_code == 404  # neither list nor create
        assert (await http.patch("/people/1", json={})).status_code == 405  # no update


def test_bad_configuration_fails_when_the_router_is_built():
    with pytest.raises(sqlops.InvalidFilterError, match="unknown filter 'nmae'"):
        sf.crud_router(Author, read=AuthorOut, filters=["nmae"])
    with pytest.raises(sqlops.InvalidFilterError, match="cannot order by 'password'"):
        sf.crud_router(Author, read=AuthorOut, order=["password"])
    with pytest.raises(ValueError, match="pagination must be 'offset' or 'cursor'"):
        sf.crud_router(Author, read=AuthorOut, pagination="keyset")
    with pytest.raises(TypeError, match="the create endpoint needs a schema"):
        sf.crud_router(Author, read=AuthorOut, methods=["create"])
    with pytest.raises(ValueError, match=r"unknown methods \['patch'\]"):
        sf.crud_router(Author, read=AuthorOut, methods=["patch"])


def test_without_schemas_there_are_no_write_endpoints():
    router = sf.crud_router(Author, read=AuthorOut)
    routes = sorted((r.path, *r.methods) for r in router.routes)  # type: ignore[attr-defined]
    assert routes == [
        ("/fw_authors", "GET"),
        ("/fw_authors/{id}", "DELETE"),
        ("/fw_authors/{id}", "GET"),
    ]


async def test_an_override_answers_with_its_own_model(fw_db: sqlops.Database):
    async def count_only() -> dict[str, int]:
        return {"count": await sqlops.Repository(Author, fw_db).count()}

    app = make_app(fw_db, methods={"list": count_only})
    async with await client_for(app) as http:
        response = await http.get("/fw_authors")
    assert (response.status_code, response.json()) == (200, {"count": 0})


async def test_a_value_too_long_for_its_column_is_422(client: httpx.AsyncClient, backend: str):
    response = await client.post("/fw_authors", json={"email": "a@x.org", "name": "n" * 60})
    if backend == "sqlite":  # SQLite does not enforce VARCHAR lengths
        assert response.status_code == 201
        return
    assert response.status_code == 422
    assert response.json() == {
        "detail": "invalid value for name (at most 50 characters)",
        "field": "name",
    }
