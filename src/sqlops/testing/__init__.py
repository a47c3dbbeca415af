"""pytest kit for sqlops users (see docs/testing.md)."""
