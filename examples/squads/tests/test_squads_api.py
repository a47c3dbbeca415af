"""The squads service over HTTP, on every backend — bad input included."""

from __future__ import annotations

import asyncio

import httpx


async def post(client: httpx.AsyncClient, path: str, body: dict[str, object]) -> dict:  # type: ignore[type-arg]
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def named_fields(body: dict[str, object]) -> list[object]:
    return [body["field"]] if "field" in body else list(body["fields"])  # type: ignore[call-overload]


async def make_users(client: httpx.AsyncClient, *names: str) -> list[int]:
    return [
        (await post(client, "/users", {"email": f"{n.lower()}@squads.dev", "name": n}))["id"]
        for n in names
    ]


async def test_users_soft_delete_and_duplicates(client: httpx.AsyncClient):
    ada, _bob = await make_users(client, "Ada", "Bob")
    duplicate = await client.post("/users", json={"email": "ada@squads.dev", "name": "Ada 2"})
    assert duplicate.status_code == 409
    assert duplicate.json() == {"detail": "email already exists", "field": "email"}
    assert (await client.delete(f"/users/{ada}")).status_code == 204
    assert (await client.get(f"/users/{ada}")).status_code == 404
    assert (await client.delete(f"/users/{ada}")).status_code == 404  # already deleted
    listed = (await client.get("/users")).json()
    assert [u["name"] for u in listed["items"]] == ["Bob"]
    assert (await client.post(f"/users/{ada}/restore")).json()["name"] == "Ada"
    assert (await client.get("/users")).json()["total"] == 2
    assert (await client.get("/users/4040")).json() == {"detail": "User not found"}


async def test_user_list_filters_orders_and_pages(client: httpx.AsyncClient):
    await make_users(client, "Ada", "Bea", "Cal", "Dee", "Abe")
    response = await client.get(
        "/users", params={"name__ilike": "a%", "order_by": "-name", "per_page": 1, "page": 2}
    )
    body = response.json()
    assert (body["total"], body["pages"], [u["name"] for u in body["items"]]) == (2, 2, ["Abe"])
    unknown = await client.get("/users", params={"deleted_at__is_null": "false"})
    assert unknown.status_code == 400
    assert "unknown filter" in unknown.json()["detail"]
    assert (await client.get("/users", params={"order_by": "deleted_at"})).status_code == 400
    assert (await client.get("/users", params={"per_page": 1000})).status_code == 422


async def test_squad_membership_is_get_or_create(client: httpx.AsyncClient):
    ada, bob = await make_users(client, "Ada", "Bob")
    squad = await post(client, "/squads", {"name": "Scouts", "owner_id": ada})
    first = await client.put(f"/squads/{squad['id']}/members/{bob}")
    again = await client.put(f"/squads/{squad['id']}/members/{bob}")
    assert (first.status_code, again.status_code) == (201, 200)
    detail = (await client.get(f"/squads/{squad['id']}")).json()
    assert [(m["user"]["name"], m["role"]) for m in detail["members"]] == [
        ("Ada", "owner"),
        ("Bob", "member"),
    ]
    taken = await client.post("/squads", json={"name": "Scouts", "owner_id": bob})
    assert taken.json() == {"detail": "name already exists", "field": "name"}
    assert (await client.post("/squads", json={"name": "X", "owner_id": 999})).status_code == 404
    assert (await client.put(f"/squads/{squad['id']}/members/999")).status_code == 404


async def test_tasks_page_by_cursor_with_filters(client: httpx.AsyncClient):
    (ada,) = await make_users(client, "Ada")
    squad = await post(client, "/squads", {"name": "Builders", "owner_id": ada})
    tasks = f"/squads/{squad['id']}/tasks"
    for n in range(5):
        task = await post(client, tasks, {"title": f"task {n}", "assignee_id": ada})
        if n % 2:
            await client.patch(f"/tasks/{task['id']}", json={"status": "done"})
    titles, cursor = [], None
    while True:
        params = {"status": "todo", "limit": 2, **({"after": cursor} if cursor else {})}
        page = (await client.get(tasks, params=params)).json()
        titles += [t["title"] for t in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert titles == ["task 0", "task 2", "task 4"]
    assert (await client.get(tasks, params={"after": "garbage!"})).status_code == 400
    assert (await client.get(tasks, params={"status": "lost"})).status_code == 400
    assert (await client.get(tasks, params={"squad_id": 1})).status_code == 400
    bad_status = await client.patch(f"/tasks/{page['items'][0]['id']}", json={"status": "??"})
    assert bad_status.status_code == 422
    ghost = await client.patch(f"/tasks/{page['items'][0]['id']}", json={"assignee_id": 999})
    assert ghost.status_code == 409
    # SQLite does not say which foreign key failed; sqlops names every candidate there.
    assert "assignee_id" in named_fields(ghost.json())


async def test_feedback_average_and_one_rating_per_user(client: httpx.AsyncClient):
    users = await make_users(client, "Ada", "Bob", "Cy")
    squad = await post(client, "/squads", {"name": "Raters", "owner_id": users[0]})
    task = await post(client, f"/squads/{squad['id']}/tasks", {"title": "ship it"})
    feedback = f"/tasks/{task['id']}/feedback"
    for user, rating in zip(users, [5, 4, 2], strict=True):
        await post(client, feedback, {"user_id": user, "rating": rating})
    assert (await client.get(feedback)).json() == {
        "task_id": task["id"],
        "count": 3,
        "average": 3.67,
    }
    again = await client.post(feedback, json={"user_id": users[0], "rating": 1})
    assert again.status_code == 409
    assert again.json()["fields"] == ["task_id", "user_id"]
    assert (await client.post(feedback, json={"user_id": users[0], "rating": 9})).status_code == 422


async def test_usage_counter_is_exact_under_concurrent_requests(client: httpx.AsyncClient):
    (ada,) = await make_users(client, "Ada")
    squad = await post(client, "/squads", {"name": "Busy", "owner_id": ada})
    path = f"/squads/{squad['id']}/usage/api_calls"
    responses = await asyncio.gather(
        *(client.post(path, params={"by": 2}) for _ in range(8)), return_exceptions=True
    )
    assert all(isinstance(r, httpx.Response) for r in responses), responses
    assert sorted(r.json()["count"] for r in responses if isinstance(r, httpx.Response)) == list(
        range(2, 17, 2)
    )
    usage = (await client.get(f"/squads/{squad['id']}/usage")).json()
    assert [(u["metric"], u["count"]) for u in usage] == [("api_calls", 16)]
