"""Pickup operations on every backend: ratings in one transaction, real deletes, balance."""

from __future__ import annotations

import datetime as dt

import pytest
from pickup.models import Match, Player, PlaySession, StatLine
from pickup.operations import Line, MatchError, PickupOperations
from pickup.ratings import balance
from sqlalchemy import func, select

import sqlops

EVENING = dt.datetime(2024, 6, 1, 18, 30, tzinfo=dt.timezone.utc)


async def squad(ops: PickupOperations, *names: str) -> list[Player]:
    return [await ops.add_player(name) for name in names]


async def test_match_updates_every_rating_in_one_transaction(db: sqlops.Database):
    ops = PickupOperations(db)
    ann, bo, cy, di = await squad(ops, "Ann", "Bo", "Cy", "Di")
    evening = await ops.open_session("Riverside court", EVENING)
    await ops.record_match(
        evening.id,
        {ann.id: Line(11, 2), bo.id: Line(4)},
        {cy.id: Line(7), di.id: Line(3)},
        (15, 10),
    )
    ratings = {p.name: p.rating for p in await ops.players.list()}
    assert ratings["Ann"] == ratings["Bo"] == pytest.approx(1016.0)
    assert ratings["Cy"] == ratings["Di"] == pytest.approx(984.0)
    report = await ops.session_report(evening.id)
    lines = {line.player.name: line for line in report.matches[0].stats}
    assert (lines["Ann"].points, lines["Ann"].assists, lines["Ann"].team) == (11, 2, "A")
    assert lines["Cy"].rating_before == 1000.0
    assert lines["Cy"].rating_after == pytest.approx(984.0)
    assert [p.name for p in await ops.leaderboard(limit=2)] == ["Ann", "Bo"]
    assert (await ops.players.get_one(ann.id)).wins == 1


async def test_failed_match_leaves_ratings_and_matches_untouched(db: sqlops.Database):
    ops = PickupOperations(db)
    ann, bo = await squad(ops, "Ann", "Bo")
    evening = await ops.open_session("Gym", EVENING)
    with pytest.raises(sqlops.NotFoundError):  # player 999 does not exist
        await ops.record_match(evening.id, {ann.id: Line()}, {bo.id: Line(), 999: Line()}, (1, 0))
    with pytest.raises(MatchError, match="both teams"):
        await ops.record_match(evening.id, {ann.id: Line()}, {ann.id: Line()}, (1, 0))
    assert {p.rating for p in await ops.players.list()} == {1000.0}
    assert await sqlops.Repository(Match, db).count() == 0


async def test_match_in_the_callers_transaction_rolls_back_with_it(db: sqlops.Database):
    ann, bo = await squad(PickupOperations(db), "Ann", "Bo")
    evening = await PickupOperations(db).open_session("Gym", EVENING)
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await PickupOperations(session).record_match(
                evening.id, {ann.id: Line()}, {bo.id: Line()}, (2, 1)
            )
            raise RuntimeError("the caller fails after recording")
    assert await sqlops.Repository(Match, db).count() == 0
    assert (await sqlops.Repository(Player, db).get_one(ann.id)).rating == 1000.0


async def test_deleting_a_session_deletes_its_matches_and_stats(db: sqlops.Database):
    ops = PickupOperations(db)
    ann, bo = await squad(ops, "Ann", "Bo")
    kept, doomed = [await ops.open_session(v, EVENING) for v in ("Park", "Gym")]
    for evening in (kept, doomed, doomed):
        await ops.record_match(evening.id, {ann.id: Line()}, {bo.id: Line()}, (3, 1))
    assert await ops.delete_session(doomed.id) is True
    assert await ops.delete_session(doomed.id) is False
    assert await sqlops.Repository(PlaySession, db).get(doomed.id) is None
    async with db.session() as session:
        matches = await session.scalar(select(func.count()).select_from(Match))
        lines = await session.scalar(select(func.count()).select_from(StatLine))
    assert (matches, lines) == (1, 2)  # only the kept session's match and its two lines


async def test_balanced_teams_have_close_ratings(db: sqlops.Database):
    ops = PickupOperations(db)
    players = await squad(ops, *"ABCDEF")
    for player, rating in zip(players, [1200, 1100, 1000, 1000, 900, 800], strict=True):
        await ops.players.update(player.id, rating=rating)
    team_a, team_b = await ops.balance_teams([p.id for p in players])
    assert len(team_a) == len(team_b) == 3
    assert abs(sum(p.rating for p in team_a) - sum(p.rating for p in team_b)) <= 100
    with pytest.raises(sqlops.NotFoundError):
        await ops.balance_teams([players[0].id, 4040])


def test_balance_splits_odd_counts_within_one():
    class P:
        def __init__(self, rating: float) -> None:
            self.rating = rating

    team_a, team_b = balance([P(r) for r in (1500, 1000, 1000, 1000, 500)])
    assert sorted([len(team_a), len(team_b)]) == [2, 3]
