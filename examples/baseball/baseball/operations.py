"""``GameOperations``: the game engine's data layer, in two modes.

* ``GameOperations(db)`` — standalone: every call is its own transaction, committed
  when it returns (what a script or a one-off admin command wants).
* ``GameOperations(session)`` — injected: calls only flush; the caller's transaction
  makes ``save_play`` + ``update_game_state`` one atomic step.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

import sqlops

from .models import Game, GameSession, GameStatus, Half, LineupEntry, Play, Player, Team

STATE_FIELDS = ("status", "inning", "half", "outs", "home_score", "away_score")


class GameOperations:
    """Games, plays, lineups, rosters and snapshots, bound to a Database or a session."""

    def __init__(self, bind: sqlops.Database | AsyncSession) -> None:
        self.bind = bind
        self.teams = sqlops.Repository(Team, bind)
        self.players = sqlops.Repository(Player, bind)
        self.games = sqlops.Repository(Game, bind)
        self.plays = sqlops.Repository(Play, bind)
        self.lineup = sqlops.Repository(LineupEntry, bind)
        self.sessions = sqlops.Repository(GameSession, bind)

    @asynccontextmanager
    async def _unit(self) -> AsyncIterator[AsyncSession]:
        """One transaction for a multi-step call: the injected session, or a new one."""
        if isinstance(self.bind, AsyncSession):
            yield self.bind
        else:
            async with self.bind.transaction() as session:
                yield session

    # ------------------------------------------------------------------ rosters

    async def create_team(self, name: str) -> Team:
        return await self.teams.create(name=name)

    async def add_to_roster(self, team_id: int, name: str, number: int, position: str) -> Player:
        """Sign a player; a number already worn on the team is a ``UniqueViolation``."""
        return await self.players.create(
            team_id=team_id, name=name, number=number, position=position
        )

    async def roster(self, team_id: int) -> list[Player]:
        return await self.players.list(team_id=team_id, order_by="number")

    # ------------------------------------------------------------------ games

    async def create_game(self, home_team_id: int, away_team_id: int) -> Game:
        return await self.games.create(home_team_id=home_team_id, away_team_id=away_team_id)

    async def update_game_state(self, game_id: int, **state: Any) -> Game:
        """Set inning, half, outs, scores or status (the database checks the ranges)."""
        unknown = sorted(set(state) - set(STATE_FIELDS))
        if unknown:
            raise sqlops.InvalidValueError(
                f"not game state: {', '.join(unknown)}; state is {', '.join(STATE_FIELDS)}"
            )
        return await self.games.update(game_id, **state)

    async def load_game_state(self, game_id: int) -> Game:
        """The game with both teams and its lineup (players included) eagerly loaded."""
        return await self.games.get_one(game_id, load=["home_team", "away_team", "lineup.player"])

    async def save_play(self, game_id: int, batter_id: int, result: str, runs: int = 0) -> Play:
        """Record the next play of the game, numbered without gaps or duplicates.

        The sequence number comes from an atomic increment of ``plays_recorded``, so
        two writers never get the same number; the game row stays locked until commit.
        """
        async with self._unit() as session:
            games = sqlops.Repository(Game, session)
            sequence = int(await games.increment(game_id, "plays_recorded"))
            game = await games.get_one(game_id)
            return await sqlops.Repository(Play, session).create(
                game_id=game_id,
                sequence=sequence,
                inning=game.inning,
                half=game.half,
                batter_id=batter_id,
                result=result,
                runs=runs,
            )

    async def get_plays(self, game_id: int, *, after: int = 0) -> list[Play]:
        """Plays in order, those after sequence number ``after`` (to catch up a viewer)."""
        return await self.plays.list(game_id=game_id, sequence__gt=after, order_by="sequence")

    # ------------------------------------------------------------------ lineups

    async def add_to_lineup(
        self, game_id: int, team_id: int, player_id: int, batting_order: int, position: str
    ) -> LineupEntry:
        return await self.lineup.create(
            game_id=game_id,
            team_id=team_id,
            player_id=player_id,
            batting_order=batting_order,
            position=position,
        )

    async def active_lineup(self, game_id: int, team_id: int) -> list[LineupEntry]:
        """The active batting order, players loaded."""
        return await self.lineup.list(
            game_id=game_id, team_id=team_id, active=True, order_by="batting_order", load=["player"]
        )

    async def deactivate(self, game_id: int, team_id: int, player_id: int) -> bool:
        """Take a player out of the lineup without a replacement (an ejection)."""
        changed = await self.lineup.update_where(
            values={"active": False}, game_id=game_id, team_id=team_id, player_id=player_id
        )
        return changed > 0

    async def substitute(
        self,
        game_id: int,
        team_id: int,
        out_player_id: int,
        in_player_id: int,
        position: str | None = None,
    ) -> LineupEntry:
        """Replace an active player: same batting slot, both changes in one transaction."""
        async with self._unit() as session:
            lineup = sqlops.Repository(LineupEntry, session)
            leaving = await lineup.one(
                game_id=game_id, team_id=team_id, player_id=out_player_id, active=True
            )
            await lineup.update(leaving.id, active=False)
            return await lineup.create(
                game_id=game_id,
                team_id=team_id,
                player_id=in_player_id,
                batting_order=leaving.batting_order,
                position=position or leaving.position,
            )

    # ------------------------------------------------------------------ game sessions

    async def save_snapshot(self, game_id: int, label: str) -> GameSession:
        """Store the game state and active lineups as JSON, to resume or audit later."""
        async with self._unit() as session:
            game = await sqlops.Repository(Game, session).get_one(game_id, load=["lineup.player"])
            snapshot = {
                "state": {name: _plain(getattr(game, name)) for name in STATE_FIELDS},
                "lineup": [
                    {
                        "team_id": e.team_id,
                        "player_id": e.player_id,
                        "player": e.player.name,
                        "batting_order": e.batting_order,
                        "position": e.position,
                    }
                    for e in game.lineup
                    if e.active
                ],
            }
            return await sqlops.Repository(GameSession, session).create(
                game_id=game_id, label=label, snapshot=snapshot
            )

    async def latest_snapshot(self, game_id: int) -> GameSession | None:
        return await self.sessions.first(game_id=game_id, order_by="-id")

    async def restore_snapshot(self, snapshot_id: int) -> Game:
        """Put the game back in the state a snapshot recorded."""
        async with self._unit() as session:
            saved = await sqlops.Repository(GameSession, session).get_one(snapshot_id)
            state = dict(saved.snapshot["state"])
            state["status"] = GameStatus(state["status"])
            state["half"] = Half(state["half"])
            return await GameOperations(session).update_game_state(saved.game_id, **state)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, GameStatus | Half) else value
