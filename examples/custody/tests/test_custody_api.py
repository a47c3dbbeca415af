"""Kit custody over HTTP on every backend: no double check-out, history, cascades, bad input.

The app is sync (``def`` routes, a sync service, ``sqlops.sync``); concurrent requests are
threads, sent at once through a threaded test server.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
from custody.app import make_database
from custody.models import Base, CustodyEvent, MaintenanceRecord, Staff
from sqlalchemy import inspect, text

from conftest import Checkouts, ThreadedClient
from sqlops import sync
from sqlops.models import utcnow


def post(client: ThreadedClient, path: str, body: dict[str, object]) -> dict:  # type: ignore[type-arg]
    response = client.post(path, json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def all_at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run every call in its own thread, released together; wait for every one."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], httpx.Response]) -> httpx.Response:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def staff(client: ThreadedClient, *names: str) -> list[int]:
    return [
        post(client, "/staff", {"name": n, "email": f"{n.lower()}@lab.org"})["id"] for n in names
    ]


def test_concurrent_check_outs_of_one_kit_let_exactly_one_win_on_one_connection_each(
    client: ThreadedClient, db: sync.Database, checkouts: Checkouts
):
    people = staff(client, "Ana", "Ben", "Cho", "Dev", "Eli", "Fay")
    kit = post(client, "/kits", {"tag": "CAM-01", "name": "Camera"})
    before = set(checkouts.per_request)
    # Every request must hold its pooled connection before any of them moves on: the six
    # transactions really overlap (a server that ran them one by one would break the gate).
    checkouts.gate = threading.Barrier(len(people), timeout=30)

    def check_out(person: int) -> Callable[[], httpx.Response]:
        return lambda: client.post(f"/kits/{kit['id']}/check-out", json={"staff_id": person})

    responses = all_at_once([check_out(p) for p in people])
    checkouts.gate = None
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409, 409, 409, 409, 409], [r.text for r in responses]
    winner = next(r.json() for r in responses if r.status_code == 200)
    losers = [r.json() for r in responses if r.status_code == 409]
    assert all(body["status"] == "checked_out" for body in losers)
    events = sync.Repository(CustodyEvent, db).list(kit_id=kit["id"])
    assert [(e.kind.value, e.to_staff_id) for e in events] == [("check_out", winner["holder_id"])]
    concurrent = {r: n for r, n in checkouts.per_request.items() if r not in before}
    assert len(concurrent) == len(people)
    assert set(concurrent.values()) == {1}  # one check-out per request, never two
    assert checkouts.peak >= len(people)
    assert set(checkouts.most_held.values()) == {1}
    assert not any(checkouts.held.values())  # every connection went back


def test_every_request_checks_out_one_pooled_connection(
    client: ThreadedClient, checkouts: Checkouts
):
    (ana,) = staff(client, "Ana")
    kit = post(client, "/kits", {"tag": "GPS-3", "name": "GPS"})
    post(client, f"/kits/{kit['id']}/check-out", {"staff_id": ana})
    post(client, f"/kits/{kit['id']}/lost", {"staff_id": ana})  # a locking read, two moves
    client.get(f"/kits/{kit['id']}/events")
    client.get("/kits", params={"status": "lost"})  # a page and its count
    assert client.post(f"/kits/{kit['id']}/check-in", json={"staff_id": ana}).status_code == 409
    assert len(checkouts.per_request) == 7
    assert set(checkouts.per_request.values()) == {1}
    assert not any(checkouts.held.values())


def test_custody_lifecycle_and_refused_moves(client: ThreadedClient):
    ana, ben = staff(client, "Ana", "Ben")
    kit = post(client, "/kits", {"tag": "MIC-7", "name": "Microphone"})
    moves = f"/kits/{kit['id']}"
    refused = client.post(f"{moves}/check-in", json={"staff_id": ana})
    assert refused.status_code == 409
    assert refused.json() == {
        "detail": "kit MIC-7 cannot be checked in by this person: it is available",
        "status": "available",
    }
    post(client, f"{moves}/check-out", {"staff_id": ana, "note": "field trip"})
    not_holder = client.post(f"{moves}/transfer", json={"from_staff_id": ben, "to_staff_id": ana})
    assert not_holder.status_code == 409
    moved = post(client, f"{moves}/transfer", {"from_staff_id": ana, "to_staff_id": ben})
    assert moved["holder_id"] == ben
    assert post(client, f"{moves}/check-in", {"staff_id": ben})["status"] == "available"
    assert post(client, f"{moves}/lost", {"staff_id": ana})["status"] == "lost"
    assert client.post(f"{moves}/check-out", json={"staff_id": ana}).status_code == 409
    assert post(client, f"{moves}/found", {"staff_id": ben})["status"] == "available"
    history = client.get(f"{moves}/events").json()
    assert [e["kind"] for e in history] == ["check_out", "transfer", "check_in", "lost", "found"]
    assert history[0]["note"] == "field trip"
    created = history[0]["created_at"].replace("Z", "+00:00")  # 3.10 has no "Z"
    assert dt.datetime.fromisoformat(created).utcoffset() == dt.timedelta(0)


def test_maintenance_then_delete_cascades_to_history(client: ThreadedClient, db: sync.Database):
    (ana,) = staff(client, "Ana")
    kit = post(client, "/kits", {"tag": "DRN-2", "name": "Drone"})
    record = post(
        client, f"/kits/{kit['id']}/maintenance", {"staff_id": ana, "description": "props"}
    )
    assert client.get(f"/kits/{kit['id']}").json()["status"] == "maintenance"
    closed = post(client, f"/maintenance/{record['id']}/close", {"staff_id": ana})
    assert closed["closed_at"] is not None
    again = client.post(f"/maintenance/{record['id']}/close", json={"staff_id": ana})
    assert again.status_code == 409
    assert client.delete(f"/kits/{kit['id']}").status_code == 204
    assert sync.Repository(CustodyEvent, db).count() == 0
    assert sync.Repository(MaintenanceRecord, db).count() == 0
    assert client.delete(f"/kits/{kit['id']}").status_code == 404


def test_bad_input_gets_its_documented_status(client: ThreadedClient):
    (ana,) = staff(client, "Ana")
    post(client, "/kits", {"tag": "LAP-1", "name": "Laptop"})
    duplicate = client.post("/kits", json={"tag": "LAP-1", "name": "Another"})
    assert (duplicate.status_code, duplicate.json()) == (
        409,
        {"detail": "tag already exists", "field": "tag"},
    )
    assert client.get("/kits", params={"colour": "red"}).status_code == 400
    assert client.get("/kits", params={"status": "stolen"}).status_code == 400
    assert client.get("/kits", params={"order_by": "holder_id"}).status_code == 400
    assert client.get("/kits/999").status_code == 404
    assert client.post("/kits/999/check-out", json={"staff_id": ana}).status_code == 404
    assert client.post("/kits/1/check-out", json={"staff_id": 999}).status_code == 404
    bad_role = {"name": "X", "email": "x@lab.org", "role": "boss"}
    assert client.post("/staff", json=bad_role).status_code == 422
    assert client.post("/kits", json={"tag": "lowercase tag", "name": "X"}).status_code == 422


def test_filters_pages_and_the_history_index(client: ThreadedClient, db: sync.Database):
    (ana,) = staff(client, "Ana")
    for n in range(5):
        kit = post(client, "/kits", {"tag": f"BAT-{n}", "name": f"Battery {n}"})
        if n % 2:
            post(client, f"/kits/{kit['id']}/check-out", {"staff_id": ana})
    out = client.get("/kits", params={"status": "checked_out", "order_by": "-tag"}).json()
    assert [k["tag"] for k in out["items"]] == ["BAT-3", "BAT-1"]
    both = client.get(
        "/kits", params={"status__in": "available,checked_out", "per_page": 2, "page": 3}
    )
    assert (both.json()["total"], [k["tag"] for k in both.json()["items"]]) == (5, ["BAT-4"])
    with db.engine.connect() as conn:
        indexes = inspect(conn).get_indexes("custody_events")
    assert any(i["column_names"] == ["kit_id", "created_at"] for i in indexes)
    assert Base.metadata.tables["custody_events"].indexes


def test_timestamps_come_from_the_server_when_the_client_sends_none(db: sync.Database):
    """A row written by other code (SQL, a migration) still gets both timestamps."""
    with db.transaction() as session:
        session.execute(
            text("INSERT INTO staff (name, email, role) VALUES ('Raw', 'r@x.io', 'technician')")
        )
    (raw,) = sync.Repository(Staff, db).list()
    assert raw.created_at.utcoffset() == dt.timedelta(0)
    assert abs(raw.created_at - utcnow()) < dt.timedelta(minutes=5)
    assert raw.updated_at == raw.created_at  # one statement, one server clock reading


def test_the_pool_pings_before_use_and_recycles(db: sync.Database, backend: str):
    """``pool_pre_ping``: a connection the server dropped is replaced, not handed out."""
    assert db.engine.pool._recycle == 1800
    if backend == "sqlite":
        return  # a file has no server to drop the connection
    kill = {"postgresql": "SELECT pg_terminate_backend({})", "mysql": "KILL {}"}[backend]
    whoami = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}[backend]
    db.dispose()
    with db.engine.connect() as conn:  # the pool's only idle connection afterwards
        victim = conn.exec_driver_sql(whoami).scalar_one()
    other = make_database(db.url)
    try:
        with other.engine.connect() as conn:
            conn.exec_driver_sql(kill.format(int(victim)))
    finally:
        other.dispose()
    assert sync.Repository(Staff, db).count() == 0  # pre-ping noticed, reconnected
