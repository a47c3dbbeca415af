"""Pickup operations on sqlops: every write that belongs together is one transaction.

``PickupOperations(db)`` runs each call in its own transaction (multi-step calls go
through ``db.run``, which retries a deadlock or serialization conflict);
``PickupOperations(session)`` only flushes, and the caller commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import sqlops

from .models import Match, Player, PlaySession, StatLine
from .ratings import average, balance, team_delta

T = TypeVar("T")


class MatchError(ValueError):
    """A match that cannot be recorded as given (a player on both teams, an empty team)."""


@dataclass(frozen=True)
class Line:
    """One player's box score in a match."""

    points: int = 0
    assists: int = 0


class PickupOperations:
    """The data layer of the pickup app, bound to a Database or an injected session."""

    def __init__(self, bind: sqlops.Database | AsyncSession) -> None:
        self.bind = bind
        self.players = sqlops.Repository(Player, bind)
        self.sessions = sqlops.Repository(PlaySession, bind)

    async def _unit(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``fn(session, *args)`` in the injected session, or in a retried transaction."""
        if isinstance(self.bind, AsyncSession):
            return await fn(self.bind, *args)
        return await self.bind.run(fn, *args)

    async def add_player(self, name: str) -> Player:
        return await self.players.create(name=name)

    async def open_session(self, venue: str, starts_at: dt.datetime) -> PlaySession:
        return await self.sessions.create(venue=venue, starts_at=starts_at)

    async def balance_teams(self, player_ids: Sequence[int]) -> tuple[list[Player], list[Player]]:
        """Two teams of the given players with ratings as even as possible."""
        found = await self.players.list(id__in=list(player_ids))
        _require_all(player_ids, found)
        return balance(found)

    async def record_match(
        self,
        session_id: int,
        team_a: Mapping[int, Line],
        team_b: Mapping[int, Line],
        score: tuple[int, int],
    ) -> Match:
        """Save the match, every stat line and every rating change — all or nothing."""
        if not team_a or not team_b:
            raise MatchError("both teams need at least one player")
        if set(team_a) & set(team_b):
            raise MatchError(f"players {sorted(set(team_a) & set(team_b))} are on both teams")
        return await self._unit(_record_match, session_id, team_a, team_b, score)

    async def session_report(self, session_id: int) -> PlaySession:
        """The session with its matches, their stat lines and players, loaded in 3 queries."""
        return await self.sessions.get_one(session_id, load=["matches.stats.player"])

    async def delete_session(self, session_id: int) -> bool:
        """Delete the session, its matches and their stat lines (ORM cascade)."""
        return await self.sessions.delete(session_id)

    async def leaderboard(self, limit: int = 10) -> list[Player]:
        return await self.players.list(order_by=["-rating", "name"], limit=limit)


async def _record_match(
    session: AsyncSession,
    session_id: int,
    team_a: Mapping[int, Line],
    team_b: Mapping[int, Line],
    score: tuple[int, int],
) -> Match:
    await sqlops.Repository(PlaySession, session).get_one(session_id)
    ids = sorted([*team_a, *team_b])
    # Lock the players (in id order: no deadlock between two matches sharing players)
    # so a concurrent match cannot update a rating between our read and our write.
    stmt = select(Player).where(Player.id.in_(ids)).order_by(Player.id).with_for_update()
    players = {p.id: p for p in (await session.scalars(stmt)).all()}
    _require_all(ids, list(players.values()))
    side_a = [players[i] for i in team_a]
    side_b = [players[i] for i in team_b]
    delta = team_delta(average(side_a), average(side_b), *score)
    match = Match(session_id=session_id, score_a=score[0], score_b=score[1])
    for team, side, lines, change in (("A", side_a, team_a, delta), ("B", side_b, team_b, -delta)):
        for player in side:
            line = lines[player.id]
            match.stats.append(
                StatLine(
                    player_id=player.id,
                    team=team,
                    points=line.points,
                    assists=line.assists,
                    rating_before=player.rating,
                    rating_after=player.rating + change,
                )
            )
            player.rating += change
            player.games_played += 1
            player.wins += int(change > 0 and score[0] != score[1])
    session.add(match)
    await session.flush()
    return match


def _require_all(wanted: Sequence[int], found: Sequence[Player]) -> None:
    missing = sorted(set(wanted) - {p.id for p in found})
    if missing:
        raise sqlops.NotFoundError(Player, missing[0] if len(missing) == 1 else missing)
