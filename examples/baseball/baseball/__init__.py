"""A baseball game engine's data layer: games, plays, lineups, rosters, session snapshots."""
