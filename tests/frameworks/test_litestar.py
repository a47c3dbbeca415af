"""SqlopsPlugin through Litestar's test client: dependencies, commit timing, errors, queries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.testing import AsyncTestClient

import sqlops
import sqlops.litestar as sl
from sqlops._params import CursorParams, PageParams

from .models import FILTERS, Author, AuthorIn, AuthorOut, AuthorPatch, Note

Filters = NamedDependency[dict[str, Any]]
Order = NamedDependency[Any]
Paging = NamedDependency[PageParams]


def out(author: Author) -> AuthorOut:
    return AuthorOut.model_validate(author, from_attributes=True)


@post("/authors")
async def create_author(data: JSONBody[AuthorIn], transaction: sl.Transaction) -> AuthorOut:
    return out(await sqlops.Repository(Author, transaction).create(**data.model_dump()))


@post("/authors/crash")
async def create_then_crash(data: JSONBody[AuthorIn], transaction: sl.Transaction) -> None:
    await sqlops.Repository(Author, transaction).create(**data.model_dump())
    raise RuntimeError("boom")


@post("/authors/plain")
async def create_plain(
    data: JSONBody[AuthorIn], session: sl.Session, commit: FromQuery[bool] = True
) -> AuthorOut:
    author = await sqlops.Repository(Author, session).create(**data.model_dump())
    if commit:
        await session.commit()
    return out(author)


@get("/authors/{author_id:int}")
async def get_author(author_id: FromPath[int], transaction: sl.Transaction) -> AuthorOut:
    return out(await sqlops.Repository(Author, transaction).get_one(author_id))


@patch("/authors/{author_id:int}")
async def patch_author(
    author_id: FromPath[int], data: JSONBody[AuthorPatch], transaction: sl.Transaction
) -> AuthorOut:
    values = data.model_dump(exclude_unset=True)
    return out(await sqlops.Repository(Author, transaction).update(author_id, **values))


@delete("/authors/{author_id:int}")
async def delete_author(author_id: FromPath[int], transaction: sl.Transaction) -> None:
    if not await sqlops.Repository(Author, transaction).delete(author_id):
        raise sqlops.NotFoundError(Author, author_id)


@get("/authors")
async def list_authors(
    transaction: sl.Transaction, filters: Filters, order: Order, paging: Paging
) -> dict[str, Any]:
    page = await sqlops.Repository(Author, transaction).page(
        page=paging.page, per_page=paging.per_page, order_by=order, **filters
    )
    return {"items": [out(a) for a in page.items], "total": page.total, "pages": page.pages}


@get("/authors-cursor")
async def list_by_cursor(
    db: sl.Db, filters: Filters, cursor: NamedDependency[CursorParams]
) -> dict[str, Any]:
    page = await sqlops.Repository(Author, db).cursor_page(
        after=cursor.after, limit=cursor.limit, order_by="name", **filters
    )
    return {"items": [out(a) for a in page.items], "next_cursor": page.next_cursor}


@post("/notes")
async def create_note(author_id: FromQuery[int], transaction: sl.Transaction) -> dict[str, str]:
    transaction.add(Note(author_id=author_id))  # flushed (and checked) by the commit
    return {"status": "created"}


HANDLERS = [
    create_author, create_then_crash, create_plain, get_author, patch_author, delete_author,
    list_authors, list_by_cursor, create_note,
]  # fmt: skip


def make_app(db: sqlops.Database) -> Litestar:
    return Litestar(
        HANDLERS,
        plugins=[sl.SqlopsPlugin(db)],
        dependencies={
            "filters": sl.query_filters(allow=FILTERS),
            "order": sl.ordering(allow=["name", "age", "id"]),
            "paging": sl.page_params(per_page=2, max_per_page=50),
            "cursor": sl.cursor_params(limit=2, max_limit=50),
        },
    )


@pytest.fixture
async def client(fw_db: sqlops.Database) -> AsyncIterator[AsyncTestClient[Litestar]]:
    # Litestar's test client runs the app on an event loop of its own: the app gets a
    # Database of its own too (as in production, disposed by the plugin at shutdown),
    # and ``fw_db`` stays on the test's loop for setup and checks.
    app_db = sqlops.Database(fw_db.url, cursor_secret="frameworks-tests")
    async with AsyncTestClient(app=make_app(app_db)) as http:
        yield http


async def test_every_endpoint_through_the_plugin(client: AsyncTestClient[Litestar]):
    created = await client.post("/authors", json={"email": "ada@x.org", "name": "Ada"})
    assert created.status_code == 201
    assert created.json() == {"id": 1, "email": "ada@x.org", "name": "Ada", "age": None}
    assert (await client.get("/authors/1")).json()["name"] == "Ada"
    patched = await client.patch("/authors/1", json={"age": 36})
    assert patched.json() == {"id": 1, "email": "ada@x.org", "name": "Ada", "age": 36}
    assert (await client.delete("/authors/1")).status_code == 204
    missing = await client.get("/authors/1")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Author not found"})


async def test_duplicate_is_409_with_the_fastapi_body(client: AsyncTestClient[Litestar]):
    ada = {"email": "ada@x.org", "name": "Ada"}
    assert (await client.post("/authors", json=ada)).status_code == 201
    response = await client.post("/authors", json=ada)
    assert response.status_code == 409
    assert response.json() == {"detail": "email already exists", "field": "email"}


async def test_an_exception_rolls_the_transaction_back(
    client: AsyncTestClient[Litestar], fw_db: sqlops.Database
):
    response = await client.post("/authors/crash", json={"email": "a@x.org", "name": "A"})
    assert response.status_code == 500
    assert await sqlops.Repository(Author, fw_db).count() == 0


async def test_plain_session_keeps_only_what_the_handler_committed(
    client: AsyncTestClient[Litestar], fw_db: sqlops.Database
):
    kept = await client.post("/authors/plain", json={"email": "a@x.org", "name": "A"})
    dropped = await client.post(
        "/authors/plain", params={"commit": "false"}, json={"email": "b@x.org", "name": "B"}
    )
    assert (kept.status_code, dropped.status_code) == (201, 201)
    assert [a.email for a in await sqlops.Repository(Author, fw_db).list()] == ["a@x.org"]


async def test_the_commit_happens_before_the_response(
    client: AsyncTestClient[Litestar], backend: str
):
    if backend == "mysql":
        pytest.skip("MariaDB has no deferred constraints: the INSERT itself fails")
    response = await client.post("/notes", params={"author_id": 999})
    assert response.status_code == 409, response.text  # not a 201 for a write the commit lost
    named = {"detail": "author_id points to a row that does not exist", "field": "author_id"}
    unnamed = {"detail": "a reference points to a row that does not exist"}  # SQLite says no more
    assert response.json() == (unnamed if backend == "sqlite" else named)


@pytest.mark.usefixtures("authors")
async def test_filters_ordering_and_pages(client: AsyncTestClient[Litestar]):
    response = await client.get("/authors", params={"order_by": "-age", "age__gt": "20"})
    assert response.status_code == 200
    assert [a["name"] for a in response.json()["items"]] == ["Cy", "Ada"]
    assert (response.json()["total"], response.json()["pages"]) == (3, 2)
    repeated = await client.get("/authors", params=[("age__in", "25"), ("age__in", "41")])
    assert [a["name"] for a in repeated.json()["items"]] == ["Bob", "Cy"]


async def test_unknown_filter_is_400(client: AsyncTestClient[Litestar]):
    response = await client.get("/authors", params={"email": "ada@x.org"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "unknown filter 'email'; allowed filters: "
        "age__gt, age__in, age__is_null, name, name__ilike"
    }


async def test_injected_order_is_400(client: AsyncTestClient[Litestar]):
    response = await client.get("/authors", params={"order_by": "name; DROP TABLE fw_authors"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "cannot order by 'name; DROP TABLE fw_authors'; allowed: age, id, name"
    }


async def test_oversized_page_is_400(client: AsyncTestClient[Litestar]):
    response = await client.get("/authors", params={"per_page": 1000})
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Validation failed for GET /authors?per_page=1000"
    assert body["extra"] == [
        {"message": "Expected `int` <= 50", "key": "per_page", "source": "query"}
    ]


@pytest.mark.usefixtures("authors")
async def test_cursor_pages_and_a_forged_cursor(client: AsyncTestClient[Litestar]):
    first = (await client.get("/authors-cursor")).json()
    assert [a["name"] for a in first["items"]] == ["Ada", "Bob"]
    second = (await client.get("/authors-cursor", params={"after": first["next_cursor"]})).json()
    assert ([a["name"] for a in second["items"]], second["next_cursor"]) == (["Cy", "Di"], None)
    forged = await client.get("/authors-cursor", params={"after": "eyJub3QiOiJvdXJzIn0"})
    assert forged.status_code == 400
    assert forged.json() == {"detail": "invalid cursor: it was altered or issued by another server"}


async def test_filters_are_documented_in_openapi(fw_db: sqlops.Database):
    schema = make_app(fw_db).openapi_schema.to_schema()
    params = {p["name"] for p in schema["paths"]["/authors"]["get"]["parameters"]}
    assert params == {*FILTERS, "order_by", "page", "per_page"}


async def test_a_failed_ping_stops_the_startup():
    db = sqlops.Database("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(BaseException) as caught:  # Litestar wraps it in a group
        async with AsyncTestClient(app=Litestar([get_author], plugins=[sl.SqlopsPlugin(db)])):
            pass
    assert any(isinstance(e, sqlops.DatabaseUnavailableError) for e in _leaves(caught.value))


def _leaves(exc: BaseException) -> list[BaseException]:
    inner = getattr(exc, "exceptions", None)
    return [leaf for e in inner for leaf in _leaves(e)] if inner else [exc]
