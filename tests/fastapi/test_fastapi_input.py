"""Hostile or mistaken query input: a 422 that names what was wrong, never a vague one."""

from __future__ import annotations

import httpx
import pytest

import sqlops.fastapi as sf

ADA = {"email": "ada@example.com", "name": "Ada"}


async def test_a_nul_byte_is_named_not_mistaken_for_a_length(
    backend: str, client: httpx.AsyncClient
):
    person = (await client.post("/people", json=ADA)).json()
    response = await client.patch(f"/people/{person['id']}", params={"name": "A\x00b"})
    if backend != "postgresql":  # SQLite and MariaDB store the NUL byte as sent
        assert response.status_code == 200
        return
    assert response.status_code == 422
    assert response.json() == {
        "detail": "invalid value for name (a NUL byte, \\x00, cannot be stored)",
        "field": "name",
    }


@pytest.mark.parametrize("page", ["1" + "0" * 20, str(sf.MAX_PAGE + 1)])
async def test_a_huge_page_number_is_a_422_naming_page(client: httpx.AsyncClient, page: str):
    response = await client.get("/people", params={"page": page})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", "page"]


async def test_the_largest_page_number_is_an_empty_page(client: httpx.AsyncClient):
    response = await client.get("/people", params={"page": str(sf.MAX_PAGE)})
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/people", {"limit": "5"}, "limit"),
        ("/people", {"after": "x"}, "after"),
        ("/people-cursor", {"page": "2"}, "page"),
        ("/people-cursor", {"per_page": "5"}, "per_page"),
    ],
)
async def test_the_other_pagination_params_are_refused_not_ignored(
    client: httpx.AsyncClient, path: str, params: dict[str, str], named: str
):
    response = await client.get(path, params=params)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", named]
    assert "this endpoint pages with" in error["msg"]
