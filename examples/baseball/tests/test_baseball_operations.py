"""GameOperations on every backend, standalone and injected."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from baseball.models import Game, Half, Play
from baseball.operations import GameOperations

import sqlops


@dataclass
class Setup:
    game_id: int
    home_id: int
    away_id: int
    batters: list[int]


@pytest.fixture
async def setup(db: sqlops.Database) -> Setup:
    ops = GameOperations(db)
    home, away = await ops.create_team("Herons"), await ops.create_team("Owls")
    batters = [
        (await ops.add_to_roster(home.id, name, number, pos)).id
        for name, number, pos in [("Ruiz", 7, "SS"), ("Kato", 24, "CF"), ("Bell", 33, "1B")]
    ]
    game = await ops.create_game(home.id, away.id)
    return Setup(game.id, home.id, away.id, batters)


async def test_standalone_calls_each_commit(db: sqlops.Database, setup: Setup):
    ops = GameOperations(db)
    await ops.update_game_state(setup.game_id, status="in_progress")
    for batter, result in zip(setup.batters, ["single", "strikeout", "home_run"], strict=True):
        await ops.save_play(setup.game_id, batter, result, runs=2 if result == "home_run" else 0)
    await ops.update_game_state(setup.game_id, home_score=2, outs=1)
    # A fresh session (another connection) sees every call's work: each one committed.
    async with db.session() as other:
        plays = await sqlops.Repository(Play, other).list(game_id=setup.game_id)
        game = await sqlops.Repository(Game, other).get_one(setup.game_id)
    assert [(p.sequence, p.result) for p in plays] == [
        (1, "single"),
        (2, "strikeout"),
        (3, "home_run"),
    ]
    assert (game.home_score, game.outs, game.plays_recorded) == (2, 1, 3)
    assert [p.sequence for p in await ops.get_plays(setup.game_id, after=1)] == [2, 3]


async def test_save_play_and_state_update_commit_together(db: sqlops.Database, setup: Setup):
    async with db.transaction() as session:
        ops = GameOperations(session)
        await ops.save_play(setup.game_id, setup.batters[0], "double", runs=1)
        await ops.update_game_state(setup.game_id, home_score=1, half=Half.bottom)
    game = await GameOperations(db).load_game_state(setup.game_id)
    assert (game.home_score, game.half, game.plays_recorded) == (1, Half.bottom, 1)


async def test_failure_after_save_play_leaves_neither(db: sqlops.Database, setup: Setup):
    with pytest.raises(sqlops.CheckViolation):
        async with db.transaction() as session:
            ops = GameOperations(session)
            await ops.save_play(setup.game_id, setup.batters[0], "strikeout")
            await ops.update_game_state(setup.game_id, outs=3)  # outs must be 0..2
    assert await sqlops.Repository(Play, db).count() == 0
    game = await sqlops.Repository(Game, db).get_one(setup.game_id)
    assert (game.outs, game.plays_recorded) == (0, 0)
    with pytest.raises(sqlops.InvalidValueError, match="not game state: weather"):
        await GameOperations(db).update_game_state(setup.game_id, weather="rain")


async def test_lineup_substitution_keeps_the_batting_slot(db: sqlops.Database, setup: Setup):
    ops = GameOperations(db)
    for order, (batter, position) in enumerate(
        zip(setup.batters[:2], ["SS", "CF"], strict=False), start=1
    ):
        await ops.add_to_lineup(setup.game_id, setup.home_id, batter, order, position)
    ruiz, kato, bell = setup.batters
    await ops.substitute(setup.game_id, setup.home_id, out_player_id=kato, in_player_id=bell)
    lineup = await ops.active_lineup(setup.game_id, setup.home_id)
    assert [(e.batting_order, e.player.name, e.position) for e in lineup] == [
        (1, "Ruiz", "SS"),
        (2, "Bell", "CF"),
    ]
    with pytest.raises(sqlops.NotFoundError):  # Kato is no longer active
        await ops.substitute(setup.game_id, setup.home_id, out_player_id=kato, in_player_id=ruiz)
    assert await ops.deactivate(setup.game_id, setup.home_id, ruiz) is True
    assert [e.player_id for e in await ops.active_lineup(setup.game_id, setup.home_id)] == [bell]


async def test_rosters_refuse_a_duplicate_number(db: sqlops.Database, setup: Setup):
    ops = GameOperations(db)
    with pytest.raises(sqlops.UniqueViolation) as caught:
        await ops.add_to_roster(setup.home_id, "Imposter", 7, "P")
    assert set(caught.value.columns) == {"team_id", "number"}
    assert [p.number for p in await ops.roster(setup.home_id)] == [7, 24, 33]


async def test_game_state_loads_eagerly_and_snapshots_restore(db: sqlops.Database, setup: Setup):
    ops = GameOperations(db)
    await ops.add_to_lineup(setup.game_id, setup.home_id, setup.batters[0], 1, "SS")
    await ops.update_game_state(setup.game_id, inning=3, away_score=2)
    snapshot = await ops.save_snapshot(setup.game_id, "end of 3rd")
    await ops.update_game_state(setup.game_id, inning=7, away_score=9)
    game = await ops.load_game_state(setup.game_id)
    assert (game.home_team.name, game.lineup[0].player.name) == ("Herons", "Ruiz")
    with pytest.raises(sqlops.LazyLoadError, match=r"Game\.plays"):
        _ = game.plays  # not in load=[...]: named, instead of MissingGreenlet
    latest = await ops.latest_snapshot(setup.game_id)
    assert latest is not None
    assert latest.snapshot["lineup"][0]["player"] == "Ruiz"
    restored = await ops.restore_snapshot(snapshot.id)
    assert (restored.inning, restored.away_score) == (3, 2)
