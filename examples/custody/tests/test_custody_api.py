"""Kit custody over HTTP on every backend: no double check-out, history, cascades, bad input."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Iterable

import httpx
from custody.models import Base, CustodyEvent, MaintenanceRecord
from sqlalchemy import inspect

import sqlops


async def post(client: httpx.AsyncClient, path: str, body: dict[str, object]) -> dict:  # type: ignore[type-arg]
    response = await client.post(path, json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


async def all_of(requests: Iterable[Awaitable[httpx.Response]]) -> list[httpx.Response]:
    """Send concurrently; wait for every one, even if one fails (no request left running)."""
    results = await asyncio.gather(*requests, return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert not failed, failed
    return [r for r in results if isinstance(r, httpx.Response)]


async def staff(client: httpx.AsyncClient, *names: str) -> list[int]:
    return [
        (await post(client, "/staff", {"name": n, "email": f"{n.lower()}@lab.org"}))["id"]
        for n in names
    ]


async def test_concurrent_check_outs_of_one_kit_let_exactly_one_win(
    client: httpx.AsyncClient, db: sqlops.Database
):
    people = await staff(client, "Ana", "Ben", "Cho", "Dev", "Eli", "Fay")
    kit = await post(client, "/kits", {"tag": "CAM-01", "name": "Camera"})
    responses = await all_of(
        client.post(f"/kits/{kit['id']}/check-out", json={"staff_id": p}) for p in people
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409, 409, 409, 409, 409]
    winner = next(r.json() for r in responses if r.status_code == 200)
    losers = [r.json() for r in responses if r.status_code == 409]
    assert all(body["status"] == "checked_out" for body in losers)
    events = await sqlops.Repository(CustodyEvent, db).list(kit_id=kit["id"])
    assert [(e.kind.value, e.to_staff_id) for e in events] == [("check_out", winner["holder_id"])]


async def test_custody_lifecycle_and_refused_moves(client: httpx.AsyncClient):
    ana, ben = await staff(client, "Ana", "Ben")
    kit = await post(client, "/kits", {"tag": "MIC-7", "name": "Microphone"})
    moves = f"/kits/{kit['id']}"
    refused = await client.post(f"{moves}/check-in", json={"staff_id": ana})
    assert refused.status_code == 409
    assert refused.json() == {
        "detail": "kit MIC-7 cannot be checked in by this person: it is available",
        "status": "available",
    }
    await post(client, f"{moves}/check-out", {"staff_id": ana, "note": "field trip"})
    not_holder = await client.post(
        f"{moves}/transfer", json={"from_staff_id": ben, "to_staff_id": ana}
    )
    assert not_holder.status_code == 409
    assert (await post(client, f"{moves}/transfer", {"from_staff_id": ana, "to_staff_id": ben}))[
        "holder_id"
    ] == ben
    assert (await post(client, f"{moves}/check-in", {"staff_id": ben}))["status"] == "available"
    assert (await post(client, f"{moves}/lost", {"staff_id": ana}))["status"] == "lost"
    assert (await client.post(f"{moves}/check-out", json={"staff_id": ana})).status_code == 409
    assert (await post(client, f"{moves}/found", {"staff_id": ben}))["status"] == "available"
    history = (await client.get(f"{moves}/events")).json()
    assert [e["kind"] for e in history] == ["check_out", "transfer", "check_in", "lost", "found"]
    assert history[0]["note"] == "field trip"
    created = history[0]["created_at"].replace("Z", "+00:00")  # 3.10 has no "Z"
    assert dt.datetime.fromisoformat(created).utcoffset() == dt.timedelta(0)


async def test_maintenance_then_delete_cascades_to_history(
    client: httpx.AsyncClient, db: sqlops.Database
):
    (ana,) = await staff(client, "Ana")
    kit = await post(client, "/kits", {"tag": "DRN-2", "name": "Drone"})
    record = await post(
        client, f"/kits/{kit['id']}/maintenance", {"staff_id": ana, "description": "props"}
    )
    assert (await client.get(f"/kits/{kit['id']}")).json()["status"] == "maintenance"
    closed = await post(client, f"/maintenance/{record['id']}/close", {"staff_id": ana})
    assert closed["closed_at"] is not None
    assert (
        await client.post(f"/maintenance/{record['id']}/close", json={"staff_id": ana})
    ).status_code == 409
    assert (await client.delete(f"/kits/{kit['id']}")).status_code == 204
    assert await sqlops.Repository(CustodyEvent, db).count() == 0
    assert await sqlops.Repository(MaintenanceRecord, db).count() == 0
    assert (await client.delete(f"/kits/{kit['id']}")).status_code == 404


async def test_bad_input_gets_its_documented_status(client: httpx.AsyncClient):
    (ana,) = await staff(client, "Ana")
    await post(client, "/kits", {"tag": "LAP-1", "name": "Laptop"})
    duplicate = await client.post("/kits", json={"tag": "LAP-1", "name": "Another"})
    assert (duplicate.status_code, duplicate.json()) == (
        409,
        {"detail": "tag already exists", "field": "tag"},
    )
    assert (await client.get("/kits", params={"colour": "red"})).status_code == 400
    assert (await client.get("/kits", params={"status": "stolen"})).status_code == 400
    assert (await client.get("/kits", params={"order_by": "holder_id"})).status_code == 400
    assert (await client.get("/kits/999")).status_code == 404
    assert (await client.post("/kits/999/check-out", json={"staff_id": ana})).status_code == 404
    assert (await client.post("/kits/1/check-out", json={"staff_id": 999})).status_code == 404
    assert (
        await client.post("/staff", json={"name": "X", "email": "x@lab.org", "role": "boss"})
    ).status_code == 422
    assert (
        await client.post("/kits", json={"tag": "lowercase tag", "name": "X"})
    ).status_code == 422


async def test_filters_pages_and_the_history_index(client: httpx.AsyncClient, db: sqlops.Database):
    (ana,) = await staff(client, "Ana")
    for n in range(5):
        kit = await post(client, "/kits", {"tag": f"BAT-{n}", "name": f"Battery {n}"})
        if n % 2:
            await post(client, f"/kits/{kit['id']}/check-out", {"staff_id": ana})
    out = (await client.get("/kits", params={"status": "checked_out", "order_by": "-tag"})).json()
    assert [k["tag"] for k in out["items"]] == ["BAT-3", "BAT-1"]
    both = await client.get(
        "/kits", params={"status__in": "available,checked_out", "per_page": 2, "page": 3}
    )
    assert (both.json()["total"], [k["tag"] for k in both.json()["items"]]) == (5, ["BAT-4"])
    async with db.engine.connect() as conn:
        indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("custody_events"))
    assert any(i["column_names"] == ["kit_id", "created_at"] for i in indexes)
    assert Base.metadata.tables["custody_events"].indexes
