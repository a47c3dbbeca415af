"""Pickup sports: sessions, players, matches with per-player stats, ratings, balanced teams."""
