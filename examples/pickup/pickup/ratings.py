"""Pure game maths: Elo updates for two teams and rating-balanced team picking."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

K_FACTOR = 32.0


class Rated(Protocol):
    @property
    def rating(self) -> float: ...


R = TypeVar("R", bound=Rated)


def expected(team: float, opponents: float) -> float:
    """The Elo probability that a team rated ``team`` beats one rated ``opponents``."""
    return 1.0 / (1.0 + 10 ** ((opponents - team) / 400.0))


def team_delta(rating_a: float, rating_b: float, score_a: int, score_b: int) -> float:
    """Rating change for each member of team A; team B's members get the opposite."""
    actual = 1.0 if score_a > score_b else 0.0 if score_a < score_b else 0.5
    return K_FACTOR * (actual - expected(rating_a, rating_b))


def average(players: Sequence[Rated]) -> float:
    return sum(p.rating for p in players) / len(players)


def balance(players: Sequence[R]) -> tuple[list[R], list[R]]:
    """Split ``players`` into two teams of equal size (±1) with close rating totals.

    Greedy: strongest first, each to the team with the lower total that still has room.
    Good enough for a pickup game, and stable (ties go to team A).
    """
    room = (len(players) + 1) // 2
    team_a: list[R] = []
    team_b: list[R] = []
    for player in sorted(players, key=lambda p: -p.rating):
        total_a = sum(p.rating for p in team_a)
        total_b = sum(p.rating for p in team_b)
        wants_a = total_a <= total_b
        if (wants_a and len(team_a) < room) or len(team_b) >= room:
            team_a.append(player)
        else:
            team_b.append(player)
    return team_a, team_b
