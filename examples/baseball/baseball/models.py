"""The baseball schema."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from sqlops.models import NAMING_CONVENTION, IntPK, Timestamps, UTCDateTime


class Base(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}


class GameStatus(enum.Enum):
    scheduled = "scheduled"
    in_progress = "in_progress"
    final = "final"


class Half(enum.Enum):
    top = "top"
    bottom = "bottom"


def _enum(cls: type[enum.Enum]) -> Enum:
    """Stored as a short string with a CHECK: portable, and readable in the database."""
    return Enum(cls, native_enum=False, length=20, validate_strings=True)


class Team(IntPK, Base):
    __tablename__ = "bb_teams"
    name: Mapped[str] = mapped_column(String(60), unique=True)
    roster: Mapped[list[Player]] = relationship(back_populates="team", order_by="Player.number")


class Player(IntPK, Base):
    __tablename__ = "bb_players"
    __table_args__ = (UniqueConstraint("team_id", "number"),)
    team_id: Mapped[int] = mapped_column(ForeignKey("bb_teams.id"))
    name: Mapped[str] = mapped_column(String(80))
    number: Mapped[int]
    position: Mapped[str] = mapped_column(String(2))
    team: Mapped[Team] = relationship(back_populates="roster")


class Game(IntPK, Timestamps, Base):
    """The live state of a game; ``plays_recorded`` hands out play sequence numbers."""

    __tablename__ = "bb_games"
    __table_args__ = (
        CheckConstraint("outs BETWEEN 0 AND 2", name="outs_range"),
        CheckConstraint("inning >= 1", name="inning_positive"),
    )
    home_team_id: Mapped[int] = mapped_column(ForeignKey("bb_teams.id"))
    away_team_id: Mapped[int] = mapped_column(ForeignKey("bb_teams.id"))
    status: Mapped[GameStatus] = mapped_column(_enum(GameStatus), default=GameStatus.scheduled)
    inning: Mapped[int] = mapped_column(default=1)
    half: Mapped[Half] = mapped_column(_enum(Half), default=Half.top)
    outs: Mapped[int] = mapped_column(default=0)
    home_score: Mapped[int] = mapped_column(default=0)
    away_score: Mapped[int] = mapped_column(default=0)
    plays_recorded: Mapped[int] = mapped_column(default=0)
    home_team: Mapped[Team] = relationship(foreign_keys=[home_team_id])
    away_team: Mapped[Team] = relationship(foreign_keys=[away_team_id])
    plays: Mapped[list[Play]] = relationship(
        back_populates="game", cascade="all, delete-orphan", order_by="Play.sequence"
    )
    lineup: Mapped[list[LineupEntry]] = relationship(
        back_populates="game", cascade="all, delete-orphan", order_by="LineupEntry.id"
    )


class Play(IntPK, Timestamps, Base):
    __tablename__ = "bb_plays"
    __table_args__ = (UniqueConstraint("game_id", "sequence"),)
    game_id: Mapped[int] = mapped_column(ForeignKey("bb_games.id"))
    sequence: Mapped[int]
    inning: Mapped[int]
    half: Mapped[Half] = mapped_column(_enum(Half))
    batter_id: Mapped[int] = mapped_column(ForeignKey("bb_players.id"))
    result: Mapped[str] = mapped_column(String(30))
    runs: Mapped[int] = mapped_column(default=0)
    game: Mapped[Game] = relationship(back_populates="plays")
    batter: Mapped[Player] = relationship()


class LineupEntry(IntPK, Base):
    """A batting-order slot; a substitution deactivates the entry and adds another."""

    __tablename__ = "bb_lineup_entries"
    __table_args__ = (
        CheckConstraint("batting_order BETWEEN 1 AND 9", name="batting_order_range"),
        Index("ix_bb_lineup_active", "game_id", "team_id", "active"),
    )
    game_id: Mapped[int] = mapped_column(ForeignKey("bb_games.id"))
    team_id: Mapped[int] = mapped_column(ForeignKey("bb_teams.id"))
    player_id: Mapped[int] = mapped_column(ForeignKey("bb_players.id"))
    batting_order: Mapped[int]
    position: Mapped[str] = mapped_column(String(2))
    active: Mapped[bool] = mapped_column(default=True)
    game: Mapped[Game] = relationship(back_populates="lineup")
    player: Mapped[Player] = relationship()


class GameSession(IntPK, Timestamps, Base):
    """A saved snapshot of a game (state + active lineups), to resume or audit it."""

    __tablename__ = "bb_game_sessions"
    game_id: Mapped[int] = mapped_column(ForeignKey("bb_games.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(60))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
