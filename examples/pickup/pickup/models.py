"""The pickup schema: players, play sessions, matches and per-player stat lines."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, MetaData, String
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from sqlops.models import NAMING_CONVENTION, IntPK, Timestamps, UTCDateTime

START_RATING = 1000.0


class Base(AsyncAttrs, DeclarativeBase):
    """This example's own metadata, so its tables never mix with another app's."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}


class Player(IntPK, Timestamps, Base):
    __tablename__ = "players"
    name: Mapped[str] = mapped_column(String(50), unique=True)
    rating: Mapped[float] = mapped_column(default=START_RATING)
    games_played: Mapped[int] = mapped_column(default=0)
    wins: Mapped[int] = mapped_column(default=0)


class PlaySession(IntPK, Timestamps, Base):
    """One evening at one venue; deleting it deletes its matches and their stats."""

    __tablename__ = "play_sessions"
    venue: Mapped[str] = mapped_column(String(100))
    starts_at: Mapped[dt.datetime]
    matches: Mapped[list[Match]] = relationship(
        back_populates="session", cascade="all, delete-orphan", order_by="Match.id"
    )


class Match(IntPK, Timestamps, Base):
    __tablename__ = "matches"
    session_id: Mapped[int] = mapped_column(ForeignKey("play_sessions.id"), index=True)
    score_a: Mapped[int]
    score_b: Mapped[int]
    session: Mapped[PlaySession] = relationship(back_populates="matches")
    stats: Mapped[list[StatLine]] = relationship(
        back_populates="match", cascade="all, delete-orphan", order_by="StatLine.player_id"
    )


class StatLine(Base):
    """What one player did in one match, and the rating change it earned."""

    __tablename__ = "stat_lines"
    __table_args__ = (CheckConstraint("team IN ('A', 'B')", name="team_side"),)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id"), primary_key=True)
    player_id: Mapped[int] = mapped_column(ForeignKey("players.id"), primary_key=True)
    team: Mapped[str] = mapped_column(String(1))
    points: Mapped[int] = mapped_column(default=0)
    assists: Mapped[int] = mapped_column(default=0)
    rating_before: Mapped[float]
    rating_after: Mapped[float]
    match: Mapped[Match] = relationship(back_populates="stats")
    player: Mapped[Player] = relationship()
