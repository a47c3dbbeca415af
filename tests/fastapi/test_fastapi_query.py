"""Query-string filters, ordering and pagination: allowlisted, validated, 400 not 500."""

from __future__ import annotations

import httpx
import pytest

import sqlops
import sqlops.fastapi as sf

from .app import Person, Team


@pytest.fixture
async def people(api_db: sqlops.Database) -> None:
    reds = await sqlops.Repository(Team, api_db).create(name="Reds")
    rows = [("Ada", 36, reds.id), ("Bob", 25, None), ("Cy", 41, reds.id), ("Di", 19, None)]
    await sqlops.Repository(Person, api_db).create_many(
        {"email": f"{n.lower()}@x.org", "name": n, "age": a, "team_id": t} for n, a, t in rows
    )


def names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


@pytest.mark.usefixtures("people")
async def test_allowlisted_filters_reach_the_repository(client: httpx.AsyncClient):
    assert names(await client.get("/people", params={"age__gt": "30"})) == ["Ada", "Cy"]
    assert names(await client.get("/people", params={"name__ilike": "%D%"})) == ["Ada", "Di"]
    assert names(await client.get("/people", params={"team__name": "Reds"})) == ["Ada", "Cy"]
    repeated = await client.get("/people", params=[("age__in", "25"), ("age__in", "19")])
    assert names(repeated) == ["Bob", "Di"]


@pytest.mark.usefixtures("people")
async def test_filter_not_allowlisted_is_400(client: httpx.AsyncClient):
    response = await client.get("/people", params={"email": "ada@x.org"})
    assert response.status_code == 400
    assert "unknown filter 'email'" in response.json()["detail"]
    assert "age__gt" in response.json()["detail"]  # lists what is allowed


@pytest.mark.usefixtures("people")
async def test_filter_value_of_the_wrong_type_is_400(client: httpx.AsyncClient):
    response = await client.get("/people", params={"age__gt": "old"})
    assert response.status_code == 400
    assert "not a valid int" in response.json()["detail"]


@pytest.mark.usefixtures("people")
async def test_ordering_is_allowlisted(client: httpx.AsyncClient):
    oldest = await client.get("/people", params={"order_by": "-age", "per_page": 3})
    assert names(oldest) == ["Cy", "Ada", "Bob"]
    assert oldest.json()["total"] == 4
    assert oldest.json()["pages"] == 2
    response = await client.get("/people", params={"order_by": "email"})
    assert response.status_code == 400
    assert response.json()["detail"] == "cannot order by 'email'; allowed: age, id, name"


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize("params", [{"page": "0"}, {"per_page": "51"}, {"page": "two"}])
async def test_bad_pagination_is_422(client: httpx.AsyncClient, params: dict[str, str]):
    assert (await client.get("/people", params=params)).status_code == 422


@pytest.mark.usefixtures("people")
async def test_cursor_pages_cover_every_row_and_a_forged_cursor_is_400(client: httpx.AsyncClient):
    seen: list[str] = []
    cursor = None
    while True:
        params = {"after": cursor} if cursor else {}
        body = (await client.get("/people-cursor", params=params)).json()
        seen += [item["name"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["Ada", "Bob", "Cy", "Di"]
    response = await client.get("/people-cursor", params={"after": "bm90LWEtY3Vyc29y"})
    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]


def test_filters_show_in_openapi():
    from .app import make_app

    app = make_app(sqlops.Database("sqlite+aiosqlite:///:memory:"))
    parameters = app.openapi()["paths"]["/people"]["get"]["parameters"]
    shown = {p["name"] for p in parameters}
    assert {"age__gt", "team__name", "order_by", "page", "per_page"} <= shown


def test_parse_filters_refuses_repeats_of_single_value_filters():
    allowed = ["name", "age__in"]
    assert sf.parse_filters([("age__in", "1"), ("age__in", "2")], allowed) == {
        "age__in": ["1", "2"]
    }
    with pytest.raises(sqlops.InvalidFilterError, match="more than once"):
        sf.parse_filters([("name", "a"), ("name", "b")], allowed)
    assert sf.parse_filters([("page", "2")], allowed, sf.RESERVED_PARAMS) == {}
