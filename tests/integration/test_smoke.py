import sqlops
from tests.models import Note, Team, User


async def test_crud_roundtrip(db: sqlops.Database) -> None:
    users = sqlops.Repository(User, db)
    teams = sqlops.Repository(Team, db)
    t = await teams.create(name="red")
    u = await users.create(email="a@x.io", name="Ada", team_id=t.id)
    assert u.id and u.created_at.tzinfo is not None
    got = await users.get_one(u.id, load=["team"])
    assert got.team is not None and got.team.name == "red"
    assert await users.count() == 1
    page = await users.page(page=1, per_page=10)
    assert page.total == 1
    cp = await users.cursor_page(limit=1, order_by="-name")
    assert cp.next_cursor is None and len(cp.items) == 1
    notes = sqlops.Repository(Note, db)
    n = await notes.create(body="x")
    assert await notes.soft_delete(n.id)
    assert await notes.get(n.id) is None
    assert await users.upsert({"id": u.id, "email": "b@x.io", "name": "Bea"})
    assert (await users.get_one(u.id)).name == "Bea"
    assert await users.increment(u.id, "score", 2) == 2
    assert await users.create_many([{"email": f"{i}@x", "name": "n"} for i in range(10)]) == 10
    assert (
        await users.upsert_many(
            [{"email": f"{i}@x", "name": "m"} for i in range(12)], conflict=["email"]
        )
        == 12
    )
    assert await users.count(name="m") == 12
