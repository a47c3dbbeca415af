"""Users, teams and posts as SQLModel tables, on sqlops."""
