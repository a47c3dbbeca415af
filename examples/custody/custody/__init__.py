"""Kit custody: who holds which kit, every hand-over recorded, maintenance tracked."""
